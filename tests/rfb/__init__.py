"""Tests of the sans-I/O RFB server package, vncterm.rfb."""
