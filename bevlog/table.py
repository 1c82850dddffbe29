"""Tables for people (`parse`, `compare`): the columns that fit the width, most wanted first.

A table wider than the terminal wraps every row over several lines and is unreadable,
so by default a table keeps the most wanted columns that fit (`priority` order) and
names the others in a line under it; `--wide` (width None) keeps them all. Cells are log
text: cleaned (bevlog.escape) and given to rich as `Text`, so a log's `[b]` is not markup.
"""

from __future__ import annotations

import io

from rich.cells import cell_len
from rich.console import Console
from rich.table import Table
from rich.text import Text

from bevlog.escape import clean

PADDING = 1  # spaces rich puts on each side of a cell between columns


def fitting(
    priority: list[str], rows: list[dict], width: int | None, keep: int = 1, max_width: dict | None = None
) -> list[str]:
    """The longest prefix of `priority` whose table is at most `width` wide (at least `keep`
    columns, which may still have to fold)."""
    if width is None:
        return list(priority)

    max_width = max_width or {}
    need = {}
    for c in priority:
        w = max([cell_len(c)] + [cell_len(clean(r.get(c, ""))) for r in rows])
        need[c] = min(w, max_width.get(c, w))
    total = 0
    chosen = []
    for c in priority:
        total += need[c] + (2 * PADDING + 1 if chosen else 0)  # a separator and padding per column after the first
        if total > width and len(chosen) >= keep:
            break
        chosen.append(c)
    return chosen


def make_table(columns: list[str], rows: list[dict], right=(), max_width: dict | None = None, fold=()):
    max_width = max_width or {}
    table = Table(show_edge=False, header_style="bold", pad_edge=False)
    for c in columns:
        table.add_column(
            c,
            justify="right" if c in right else "left",
            max_width=max_width.get(c),
            overflow="fold" if c in fold else "ellipsis",
            no_wrap=c not in fold,
        )
    for r in rows:
        table.add_row(*[Text(clean(r.get(c, ""))) for c in columns])
    return table


def render(renderables, width: int | None, color: bool) -> str:
    """Rich renderables (tables, `Text`) as text `width` columns wide (None: as wide as
    they need), with colour codes only when `color`."""
    probe = Console(width=10_000, no_color=True, highlight=False, emoji=False)
    natural = max([probe.measure(r).maximum for r in renderables] + [1])
    buffer = io.StringIO()
    console = Console(
        file=buffer,
        width=width or natural,
        force_terminal=color,
        no_color=not color,
        color_system="standard" if color else None,
        highlight=False,
        emoji=False,
        soft_wrap=False,
        legacy_windows=False,
    )
    for r in renderables:
        console.print(r)
    return "\n".join(line.rstrip() for line in buffer.getvalue().rstrip("\n").split("\n"))


def left_out(priority: list[str], shown: list[str]) -> list:
    """A dim line under the table naming the columns it left out (none: an empty list)."""
    hidden = [c for c in priority if c not in shown]
    if not hidden:
        return []
    return [Text(f"({len(hidden)} more with --wide: {', '.join(hidden)})", style="dim")]
