"""Log formats: ONE table, and `read_file(path) -> [Segment]`.

Each format is one module exposing `sniff(head: bytes) -> bool` (is this my format? from
the first MB of content, never the file name) and `read(source, content, engine, chunk)
-> [Segment]` (`content`: the bytes, or a one-item list holding them that the reader
empties so that they are freed once parsed; one Segment per launch; a file holds several only when launches were appended
to it, as in nohup.out). Adding a format = one new module + one line in FORMATS. The
first module whose sniff says yes reads the file (order matters: mmcv json before the
mmengine json that is every other JSON-lines log).

engine: "fast" (default) takes the vectorised paths (numpy gathers, Arrow views and the
train lane for json; vectorised mmcv train lines for text); "python" takes the
straightforward one (json.loads per line; every text record through the generic regex
parser). Both must give the same Segments: tests run every case through both.
"""
from __future__ import annotations

import importlib
import re

FORMATS = (
    ("mmcv-json", "parsers.formats.mmcv_json"),
    ("mmengine-json", "parsers.formats.mmengine_json"),
    ("text", "parsers.formats.text.reader"),  # mmcv / mmengine text logs and console captures of either
)
ENGINES = ("fast", "python")
SNIFF = 1 << 20  # bytes looked at, at the start (and, for text, at the end) of a file


def module(name: str):
    return importlib.import_module(dict(FORMATS)[name])


def detect(data) -> str | None:
    """The format name of a log's content (bytes or a uint8 array), or None. A text log
    may start with a long stretch of other output: its last MB is looked at too."""
    head = bytes(memoryview(data)[:SNIFF])
    for name, _ in FORMATS:
        if module(name).sniff(head):
            return name
    if len(data) > SNIFF and module("text").sniff(bytes(memoryview(data)[-SNIFF:])):
        return "text"
    return None


def read_file(path: str, engine: str = "fast", chunk: int | None = None) -> list:
    """One log file ('-': stdin; .gz by its magic bytes) -> its Segments, one per launch
    in file order. Raises ParseError (one line, naming the file) when it is no log."""
    from parsers.io import display_name, read_log
    from parsers.run import ParseError

    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, not {engine!r}")
    name = display_name(path)
    big = _big_text(path, engine, chunk)
    if big is not None:
        return big
    notes: list[str] = []  # e.g. a .gz cut short: the run's problems say it
    data = read_log(path, notes)
    if re.search(rb"\S", data) is None:
        raise ParseError(name, "empty file")
    kind = detect(data)
    if kind is None:
        raise ParseError(name, "not a training log: no mmcv/mmengine log lines or JSON log rows found")
    content = [data]
    del data  # the reader frees the bytes once parsed
    segments = module(kind).read(name, content, engine=engine, chunk=chunk)
    for seg in segments:
        _check(name, kind, seg)
    for note in notes:
        segments[-1].skip(note)
    return segments


def _big_text(path: str, engine: str, chunk: int | None) -> list | None:
    """A text log too big to hold whole while it is parsed, read in pieces (parsers.formats.text.pieces:
    the same Segment, memory of the rows kept plus one piece); None for any other file.
    Pieces are one launch: a capture of several launches is read whole whatever its size."""
    from parsers.formats.text.pieces import is_big_text, read_text_chunks
    from parsers.tracebacks import TAIL_BYTES, tail_of
    from parsers.io import STDIN, display_name

    if path == STDIN or engine != "fast" or chunk is not None or not is_big_text(path):
        return None
    seg = read_text_chunks(path, display_name(path))
    if seg.header.get("config_lines") and len(seg.header["config_lines"]) > 1:
        return None
    with open(path, "rb") as f:
        f.seek(0, 2)
        f.seek(max(0, f.tell() - TAIL_BYTES))
        seg.header["tail_lines"] = tail_of(f.read())
    _check(display_name(path), "text", seg)
    return [seg]


def _check(name: str, kind: str, seg) -> None:
    from parsers.run import ParseError

    if kind == "text":
        if not seg.header.get("log_lines"):
            raise ParseError(name, "not a training log: no mmcv/mmengine log lines found")
    elif seg.rows == 0 and not seg.eval_metric and not seg.test_metrics and not seg.header.get("json_meta"):
        where = min((n for ls in seg.skipped_lines.values() for n in ls), default=1)
        raise ParseError(name, "no readable JSON log rows", where)
