"""Terminal model: pyte wrapped with damage tracking, scroll detection, replies and keymap."""
