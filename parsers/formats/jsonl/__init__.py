"""The JSON-lines engine: mmcv 1.x `<ts>.log.json` and mmengine `vis_data/scalars.json`.

Two formats share it (`parsers.formats.mmcv_json`, `mmengine_json`). The road:
`reader.read_json` (a file -> one Segment) -> rows of one key layout straight from the
bytes (`blocks`, with working arrays each scanning thread keeps: `scratch`), the other rows
through a vectorised split (`rows`), the rest through `json.loads`.
"""

from __future__ import annotations


def first_line(head: bytes) -> bytes | None:
    """The first line of a JSON-lines log (None when `head` is not one; a pretty-printed
    JSON document, first line `{`, is a results or config file, not a log)."""
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:]
    stripped = head.lstrip()
    if not stripped.startswith(b"{"):
        return None
    first = stripped.split(b"\n", 1)[0]
    return None if first.rstrip() == b"{" else first
