"""Keeping one viewer's picture in step with its own view: which cells to redraw, what moves.

A viewer on the live screen is sent the session's framebuffer, which shows the screen as of
the last frame. A viewer reading history or holding a selection is sent its view, drawn from
the terminal when an update goes out (it keeps no framebuffer). Either way its picture is known
here as `Place`: where the view stood the last time the picture was brought in step. From that,
the shared damage of each frame (screen rows) becomes damage of the view's rows (absolute
lines), a move of the view becomes one CopyRect and the rows that came in, and a selection
change becomes the rows whose highlight changed. Rows drawn from a terminal newer than the last
frame are redrawn at the next one: a cell changed and changed back in between is in no frame's
damage. Pure: no Twisted, no pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

from vncterm.updates import CellRect, CellScroll, ViewerUpdates
from vncterm.view import Selection, ViewerView

__all__ = ["Place", "ViewSync"]


@dataclass(frozen=True, slots=True)
class Place:
    """Where a viewer's picture stands: the live screen's top line as of the last frame, the
    line on the picture's top row, and the cursor's cell on it (None when not shown)."""

    live_top: int
    view_top: int
    cursor: tuple[int, int] | None

    @classmethod
    def of(cls, view: ViewerView) -> Place:
        return cls(view.live_top, view.view_top, view.cursor if view.cursor_visible else None)


class ViewSync:
    """The damage bookkeeping between one viewer's view and its picture."""

    def __init__(self, view: ViewerView, updates: ViewerUpdates) -> None:
        self.view = view
        self.updates = updates
        self.seen = Place.of(view)
        #: View rows drawn from a terminal newer than the last frame.
        self._ahead: set[int] = set()

    def resized(self) -> None:
        """The console changed size: everything is redrawn (the caller resized the updates)."""
        self._ahead.clear()
        self.seen = Place.of(self.view)

    def drawing(self, rect: CellRect, *, newer: bool) -> None:
        """`rect` of the view is about to be drawn; `newer`: the terminal changed since the
        last frame."""
        if newer:
            self._ahead.update(range(rect.y, rect.y + rect.height))

    def screen_changed(self, scroll: CellScroll | None, rects: list[CellRect]) -> None:
        """A frame: the shared screen changed (`scroll` first, then `rects`, in screen rows)."""
        view, updates = self.view, self.updates
        if not view.private:
            if scroll is not None:
                updates.scroll(scroll)
            for rect in rects:
                updates.damage_cells(rect)
            self.seen = Place.of(view)
            return
        live_top, view_top = view.live_top, view.view_top
        seen = self.seen
        self.seen = Place.of(view)
        rows = view.rows
        if view.top is not None and view_top != seen.view_top:
            updates.damage_all()  # the oldest history went, and the view with it
            self._ahead.clear()
            return
        offset = live_top - view_top  # view row = screen row + offset
        moved = live_top - seen.live_top
        if view.top is None:
            # The view is the live screen: the shared damage is its damage, but rows that
            # moved carry the selection's highlight (it stays with its lines) along.
            if moved:
                updates.damage_all()
            elif scroll is not None:
                updates.damage_cells(CellRect(0, scroll.top, view.cols,
                                              scroll.bottom - scroll.top))
        elif scroll is not None or moved:
            pushed = (scroll is not None and (scroll.top, scroll.bottom) == (0, rows)
                      and moved == scroll.count)
            if not pushed:
                # Not just lines going into history (which keep their text there): whatever
                # the view shows of the live screen, then or now, may have changed.
                first = max(0, min(seen.live_top, live_top) - view_top)
                if first < rows:
                    updates.damage_cells(CellRect(0, first, view.cols, rows - first))
        for rect in rects:
            y0, y1 = max(0, rect.y + offset), min(rows, rect.y + rect.height + offset)
            if y0 < y1:
                updates.damage_cells(CellRect(rect.x, y0, rect.width, y1 - y0))
        # The shared damage places the cursor on the live screen; in a view scrolled back the
        # cell it left may still be in sight (its row went into history with the cursor).
        for cursor in (seen.cursor, self.seen.cursor):
            if cursor is not None:
                updates.damage_cells(CellRect(cursor[0], cursor[1], 1, 1))
        self._redraw_ahead()

    def moved(self) -> None:
        """The view scrolled (or went back live): what stays in sight moves (one CopyRect,
        either way) and only the rows that came into sight are drawn."""
        view, updates = self.view, self.updates
        seen = self.seen
        # Where the picture must end up: the view as it is now when it is drawn for this
        # viewer, or the shared framebuffer, which shows the live screen as of the last frame
        # (the console may have moved on since). From where the picture is, not from where
        # the view was a moment ago.
        target = view.view_top if view.private else seen.live_top
        delta = target - seen.view_top  # > 0: towards the live screen, rows move up
        self._redraw_ahead()  # damaged where they are now, they move with the rows
        if abs(delta) < view.rows:
            updates.scroll(CellScroll(0, view.rows, delta))
            cursor = seen.cursor
            if cursor is not None:
                moved_to = cursor[1] - delta
                cursor = (cursor[0], moved_to) if 0 <= moved_to < view.rows else None
        else:
            updates.damage_all()
            cursor = view.cursor if view.private and view.cursor_visible else None
        self.seen = Place(seen.live_top, target, cursor)

    def selection_changed(self, before: Selection | None) -> None:
        """The selection changed from `before`: the rows whose highlight did are redrawn."""
        view = self.view
        # The highlight the viewer has may be drawn where the screen stood at the last frame,
        # or where it stands now (console output not drawn yet has scrolled it): both.
        for top in {view.view_top, self.seen.view_top}:
            for y, x0, x1 in view.selection_changes(before, view.selection, top):
                self.updates.damage_cells(CellRect(x0, y, x1 - x0, 1))
        if not view.private:
            # Back on the shared framebuffer, which shows the screen as of the last frame:
            # rows drawn since are redrawn from it, and the picture goes where it shows.
            self.moved()

    def _redraw_ahead(self) -> None:
        for y in self._ahead:
            self.updates.damage_cells(CellRect(0, y, self.view.cols, 1))
        self._ahead.clear()
