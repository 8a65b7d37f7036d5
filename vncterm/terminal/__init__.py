"""Terminal model: pyte wrapped with damage tracking, scroll detection, replies and keymap.

The package's API is `Terminal` (the emulator), `Damage` (what changed between two looks),
`Char` (a cell) and `TERM_NAME`; its modules follow pyte's lines (see docs/architecture.md).
"""

from vncterm.terminal.damage import Damage
from vncterm.terminal.emulator import TERM_NAME, Char, Terminal

__all__ = ["TERM_NAME", "Char", "Damage", "Terminal"]
