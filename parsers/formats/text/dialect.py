"""Which logger dialect a text log is written in, and whether it is a console capture.

Dialects (`parsers.patterns.DIALECTS`): mmcv, mmengine (file log) and mmengine's console
form without the year. A text log's dialect is the one most of its logger lines (in its
first MiB) are written in, at a line start or, failing that, after a progress bar's '\\r'.
"""

from __future__ import annotations

import functools
import re

from parsers.patterns import DIALECTS, prefix

# At a line start: the first line, or after a newline. Written with the '\n' rather than
# `(?m)^`, which the regex engine tries at every byte; a literal first byte it finds fast.
_AT_LINE_START = {
    d: (re.compile(prefix(d, ())[1:].encode()), re.compile(("\n" + prefix(d, ())[1:]).encode())) for d in DIALECTS
}
_AFTER_CR = {d: re.compile(("(?m)^[^\\n]*\\r" + prefix(d, ())[1:]).encode()) for d in DIALECTS}
TRACEBACK = b"Traceback (most recent call last)"


@functools.lru_cache(maxsize=8)  # the three text formats' sniffers ask about the same head
def dialect_of(text: bytes) -> str | None:
    """The dialect most logger lines of `text` are written in; None when none is."""
    counts = {d: bool(first.match(text)) + len(later.findall(text)) for d, (first, later) in _AT_LINE_START.items()}
    best = max(counts, key=lambda d: counts[d])
    if counts[best]:
        return best
    counts = {d: len(p.findall(text)) for d, p in _AFTER_CR.items()}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else None


def bare_cr(data: bytes) -> bool:
    """A '\\r' that does not end a line: a progress bar redrawing itself."""
    return data.count(b"\r") - data.count(b"\r\n") - data.endswith(b"\r") > 0


def looks_like_console(data: bytes, first_line: str | None, dialect: str) -> bool:
    """A runner's .log file holds only logger output; a console capture also holds
    tracebacks, progress bars or prints, or does not start with a logger line."""
    if first_line is None:
        return False
    if not re.match(prefix(dialect), first_line):
        return True
    if TRACEBACK in data:
        return True
    return b"\r" in data and bare_cr(data)
