"""Rendering: palette, bitmap font with glyph cache, framebuffer with damage."""
