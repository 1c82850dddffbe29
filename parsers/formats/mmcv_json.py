"""mmcv 1.x `<ts>.log.json`: JSON lines whose rows carry `"mode"`, or whose first line is
run meta (`env_info`, `config`, `exp_name` …) or a resumed run's checkpoint meta
(`{"epoch": 2, "iter": 61790, …}`). Reading: parsers.formats.jsonl.reader."""
from __future__ import annotations

MMCV_META_KEYS = (b'"env_info"', b'"config"', b'"mmcv_version"', b'"exp_name"', b'"hook_msgs"')


def sniff(head: bytes) -> bool:
    first = json_lines_first(head)
    if first is None:
        return False
    if b'"mode": ' in head or b'"mode":' in head or any(k in first for k in MMCV_META_KEYS):
        return True
    return b'"epoch"' in first and b'"step"' not in first and b'"iter"' in first  # checkpoint meta


def read(source: str, content, engine: str = "fast", chunk: int | None = None) -> list:
    from parsers.formats.jsonl.reader import read_json

    return [read_json(source, content, "mmcv", engine, chunk)]


def json_lines_first(head: bytes) -> bytes | None:
    """The first line of a JSON-lines log (None when `head` is not one; a pretty-printed
    JSON document, first line `{`, is a results or config file, not a log)."""
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:]
    stripped = head.lstrip()
    if not stripped.startswith(b"{"):
        return None
    first = stripped.split(b"\n", 1)[0]
    return None if first.rstrip() == b"{" else first
