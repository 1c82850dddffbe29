"""Which logger dialect a text log is written in, and whether it is a console capture.

Dialects (`parsers.patterns.DIALECTS`): mmcv, mmengine (file log) and mmengine's console
form without the year. A text log's dialect is the one most of its logger lines (in its
first MiB) are written in, at a line start or, failing that, after a progress bar's '\\r'.
"""

from __future__ import annotations

import functools
import re

from parsers.patterns import DIALECTS, prefix

_AT_LINE_START = {d: re.compile(("(?m)^" + prefix(d, ())[1:]).encode()) for d in DIALECTS}
_AFTER_CR = {d: re.compile(("(?m)^[^\\n]*\\r" + prefix(d, ())[1:]).encode()) for d in DIALECTS}
TRACEBACK = b"Traceback (most recent call last)"


@functools.lru_cache(maxsize=8)  # the three text formats' sniffers ask about the same head
def dialect_of(text: bytes) -> str | None:
    """The dialect most logger lines of `text` are written in; None when none is."""
    for patterns in (_AT_LINE_START, _AFTER_CR):
        counts = {d: len(p.findall(text)) for d, p in patterns.items()}
        best = max(counts, key=lambda d: counts[d])
        if counts[best]:
            return best
    return None


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
