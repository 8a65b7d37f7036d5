"""Framebuffer encoders, one module per RFB encoding, collected in a registry."""
