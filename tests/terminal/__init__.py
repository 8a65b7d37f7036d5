"""Tests of the terminal model and keymap."""
