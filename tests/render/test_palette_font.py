"""Palette colours and the Unifont glyphs."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np

from vncterm.render import font, palette


def test_ansi_16_and_default_colours() -> None:
    """Base names resolve to xterm's colours; default fg is colour 7, default bg colour 0."""
    assert palette.resolve("red") == (0xCD, 0, 0)
    assert palette.resolve("brightblue") == (0x5C, 0x5C, 0xFF)
    assert palette.resolve("default") == palette.DEFAULT_FG == palette.ANSI_16[7]
    assert palette.resolve("default", foreground=False) == palette.DEFAULT_BG == (0, 0, 0)


def test_bold_brightens_base_foreground_only() -> None:
    """Bold turns the 8 base foreground colours bright, but not backgrounds or hex colours."""
    assert palette.resolve("red", bold=True) == palette.ANSI_16[9]
    assert palette.resolve("default", bold=True) == palette.ANSI_16[15]
    assert palette.resolve("red", foreground=False, bold=True) == palette.ANSI_16[1]
    assert palette.resolve("ff8700", bold=True) == (0xFF, 0x87, 0x00)


def test_xterm_256_palette() -> None:
    """The 256 palette has the 16, the 6x6x6 cube and the grey ramp at xterm's values."""
    assert len(palette.XTERM_256) == 256
    assert palette.XTERM_256[16] == (0, 0, 0)
    assert palette.XTERM_256[196] == (0xFF, 0, 0)
    assert palette.XTERM_256[208] == (0xFF, 0x87, 0x00)
    assert palette.XTERM_256[232] == (8, 8, 8)
    assert palette.XTERM_256[255] == (0xEE, 0xEE, 0xEE)


def test_odd_colour_values_fall_back() -> None:
    """pyte's misspelt name is known, and garbage falls back to the default colour."""
    assert palette.resolve("bfightmagenta", foreground=False) == palette.ANSI_16[13]
    assert palette.resolve("nonsense") == palette.DEFAULT_FG
    assert palette.resolve("zzzzzz", foreground=False) == palette.DEFAULT_BG


def test_reverse_swaps_colours() -> None:
    """resolve_pair swaps foreground and background for reverse video."""
    assert palette.resolve_pair("red", "blue", reverse=True) == (
        palette.ANSI_16[4],
        palette.ANSI_16[1],
    )


def test_narrow_and_wide_glyphs() -> None:
    """Latin letters are 8x16 and CJK ideographs 16x16 bitmaps with ink."""
    letter = font.glyph(ord("A"))
    assert letter.shape == (16, 8) and letter.dtype == np.bool_ and letter.any()
    ideograph = font.glyph(0x4E00)
    assert ideograph.shape == (16, 16) and ideograph.any()


def test_missing_glyph_is_the_replacement() -> None:
    """A code point Unifont lacks is shown with its visible U+FFFD glyph."""
    assert not font.has_glyph(0xE000)
    replacement = font.glyph(font.REPLACEMENT)
    assert replacement.any()
    assert np.array_equal(font.glyph(0xE000), replacement)
    assert np.array_equal(font.glyph(0x1F600), replacement)


def test_combining_and_zero_width_text() -> None:
    """Combining marks are overlaid on the base glyph; empty and zero-width text do not crash."""
    combined = font.text_glyph("e\u0301\u0302")
    assert combined.shape == (16, 8)
    assert (combined & ~font.glyph(ord("e"))).any()
    assert not font.text_glyph("").any()
    assert font.text_glyph("\u200b").shape == (16, 8)


def test_glyph_width_is_fitted_to_the_cell() -> None:
    """Glyphs are fitted to the requested cell width (left half for a lone wide character)."""
    assert font.text_glyph("A", 16).shape == (16, 16)
    assert np.array_equal(font.text_glyph("\u4e00", 8), font.glyph(0x4E00)[:, :8])


def test_font_license_ships_with_the_font() -> None:
    """The Unifont notice names the version, the licenses and the Debian source."""
    notice = (Path(font.__file__).parent / "fonts" / "LICENSE.unifont").read_text()
    for needle in ("15.0.01", "Roman Czyborra", "font embedding exception", "SIL Open Font"):
        assert needle in notice


def test_models_import_neither_twisted_nor_socket() -> None:
    """The terminal and render packages, and the echo watch, import neither Twisted nor
    socket."""
    root = Path(font.__file__).parent.parent
    for path in [*root.joinpath("terminal").rglob("*.py"), *root.joinpath("render").rglob("*.py"),
                 root / "echowatch.py"]:
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] not in ("twisted", "socket"), (path, name)
