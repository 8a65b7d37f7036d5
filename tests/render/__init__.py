"""Tests of the palette, font and framebuffer."""
