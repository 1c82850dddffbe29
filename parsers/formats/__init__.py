"""Log formats: ONE table (`FORMATS`), and `read_file(path) -> [Segment]`.

Which module reads a file is decided by its content, never its name: the first module in
`FORMATS` whose `sniff` says yes reads it (order matters where formats nest: mmcv json
before the mmengine json that is every other JSON-lines log). A file's name only decides
whether it is looked at when a directory is searched (each row's `files` patterns).

Adding a format = one new module in this package + one row in FORMATS. The module exposes:

    sniff(head: bytes) -> bool
        Is this my format? `head`: the first SNIFF bytes (1 MiB) of the content, gunzipped
        and UTF-8 (a UTF-16 BOM converted). Cheap: it runs on every candidate file.
        (With `tail=True` in the row, the last MiB is sniffed too when the head says no.)

    read(source: str, content: list, engine: str = "fast", chunk: int | None = None)
            -> list[parsers.segment.Segment]
        `source`: the name to report (a path, or "<stdin>"). `content`: a one-item list
        holding the bytes (or a uint8 numpy array, for a plain file of JSON lines): pop it,
        so that the bytes are freed once parsed. Returns one Segment per launch, in file
        order (a nohup.out may hold several). Builds each with a `parsers.segment.Draft`
        (`Draft(source, format, library)`, set its fields, `draft.skip(reason, n, lines)`
        for whatever is not read, `draft.freeze()`). Raises `parsers.run.ParseError(source,
        reason, line)` when the content is not a log of this format after all; numbers from
        the log are bounded (`parsers.bounds`) before they size anything, nothing from it is
        executed. `engine`: "fast" (vectorised paths) or "python" (the straightforward one;
        both must give the same Segments: tests run every case through both); `chunk`: the
        bytes parsed at a time (tests: tiny chunks must give the same Segments).

    read_big(path: str, source: str) -> list[Segment] | None      (optional)
        A regular, uncompressed file larger than BIG_FILE, read without holding it whole;
        None: read it whole after all.

Files of one run are grouped by `parsers.discovery.run_key` from their paths; a format whose
files of one run are not named `<stem>[_<timestamp>]` adds its naming rule there.
"""

from __future__ import annotations

import fnmatch
import importlib
import os
import re
import stat
import zlib
from typing import NamedTuple

from parsers.io import BOMS, GZIP_MAGIC, STDIN, display_name, read_log
from parsers.run import ParseError
from parsers.segment import Segment, with_skipped

TEXT_FILES = ("*.log", "*.txt", "*.out")  # .out: nohup.out, slurm-*.out
JSON_FILES = ("*.json",)


class Format(NamedTuple):
    name: str  # the format's label (Segment.format; a text format may also label a capture `console`)
    module: str  # the module that sniffs and reads it
    files: tuple[str, ...]  # file names (fnmatch, lower case; `.gz` allowed too) worth sniffing in a directory
    tail: bool = False  # a log that may start with a long stretch of other output: sniff its last MiB too


FORMATS = (
    Format("mmcv-json", "parsers.formats.mmcv_json", JSON_FILES),
    # JSON lines of DETR-family tools: before mmengine-json, which claims every other one
    Format("detr-json", "parsers.formats.detr_json", TEXT_FILES + JSON_FILES),
    Format("detectron2-json", "parsers.formats.detectron2_json", JSON_FILES),
    Format("mmengine-json", "parsers.formats.mmengine_json", JSON_FILES),
    Format("mmcv-text", "parsers.formats.mmcv_text", TEXT_FILES, tail=True),
    Format("mmengine-text", "parsers.formats.mmengine_text", TEXT_FILES, tail=True),
    Format("console", "parsers.formats.console", TEXT_FILES, tail=True),
    Format("detr-console", "parsers.formats.detr_console", TEXT_FILES, tail=True),
    Format("detectron2-console", "parsers.formats.detectron2_console", TEXT_FILES, tail=True),
    Format("tfevents", "parsers.formats.tfevents", ("events.out.tfevents.*",)),
    Format("ultralytics-csv", "parsers.formats.ultralytics_csv", ()),  # recognised to be refused by name
)
ENGINES = ("fast", "python")
SNIFF = 1 << 20  # bytes looked at, at the start (and for `tail` formats at the end) of a file
BIG_FILE = 64 << 20  # a file larger than this is offered to its format's `read_big`
_CANDIDATE = re.compile("|".join(fnmatch.translate(p + gz) for f in FORMATS for p in f.files for gz in ("", ".gz")))


def module(name: str):
    """The module of format `name` (imported on first use)."""
    return importlib.import_module(next(f.module for f in FORMATS if f.name == name))


def is_candidate(path: str) -> bool:
    """A file worth sniffing when a directory is searched (its name matches a format's)."""
    return _CANDIDATE.match(os.path.basename(path).lower()) is not None


def detect(data) -> str | None:
    """The format name of a log's content (bytes or a uint8 array), or None. A text log may
    start with a long stretch of other output: its last MiB is looked at too."""
    head = bytes(memoryview(data)[:SNIFF])
    found = _sniffed(head, FORMATS)
    if found is None and len(data) > SNIFF:
        found = _sniffed(bytes(memoryview(data)[-SNIFF:]), [f for f in FORMATS if f.tail])
    return found


def _sniffed(part: bytes, formats) -> str | None:
    return next((f.name for f in formats if module(f.name).sniff(part)), None)


def detect_file(path: str) -> str | None:
    """The format name of a file, from its first MiB (gunzipped)."""
    with open(path, "rb") as f:
        head = f.read(SNIFF)
    return detect(sniff_head(head))


def sniff_head(data: bytes) -> bytes:
    """The first bytes of a file as the detector should see them (gunzipped, UTF-8)."""
    if data.startswith(GZIP_MAGIC):
        try:
            data = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(data, SNIFF)
        except zlib.error:
            return b""
    for bom, codec in BOMS:
        if data.startswith(bom):
            cut = data[len(bom) : len(bom) + (len(data) - len(bom)) // 2 * 2]
            return cut.decode(codec, errors="replace").encode("utf-8")
    return data


def read_file(path: str, engine: str = "fast", chunk: int | None = None) -> list[Segment]:
    """One log file ('-': stdin; .gz by its magic bytes) -> its Segments, one per launch in
    file order. Raises ParseError (one line, naming the file) when it is no log."""
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, not {engine!r}")
    name = display_name(path)
    if path != STDIN and engine == "fast" and chunk is None:
        big = _read_big(path, name)
        if big is not None:
            return big
    notes: list[str] = []  # e.g. a .gz cut short: the run's problems say it
    data = read_log(path, notes)
    if re.search(rb"\S", data) is None:
        raise ParseError(name, "empty file")
    kind = detect(data)
    if kind is None:
        raise ParseError(name, "not a training log: no log lines or rows of a known format found "
                               "(mmcv, mmengine, DETR, detectron2, TensorBoard)")
    content = [data]
    del data  # the reader frees the bytes once parsed
    segments = module(kind).read(name, content, engine=engine, chunk=chunk)
    for note in notes:
        segments[-1] = with_skipped(segments[-1], note)
    return segments


def big_file_format(path: str, size: int = BIG_FILE) -> str | None:
    """The format of a regular, uncompressed file larger than `size` (from its first and
    last MiB, as for any file), else None."""
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode) or st.st_size <= size:
            return None
        with open(path, "rb") as f:
            head = f.read(SNIFF)
            f.seek(st.st_size - SNIFF)
            tail = f.read(SNIFF)
    except OSError:
        return None
    return None if head.startswith(b"\x1f\x8b") else detect(head + b"\n" + tail)


def _read_big(path: str, name: str) -> list[Segment] | None:
    kind = big_file_format(path)
    read_big = getattr(module(kind), "read_big", None) if kind else None
    return read_big(path, name) if read_big is not None else None
