"""Log formats: ONE table (`FORMATS`), and how a file's format is recognised (`detect`).

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

    follower(source: str, engine: str = "fast", chunk: int | None = None)      (optional)
            -> parsers.follow.Follower
        The format read in pieces (`parsers.follow`): a big file without holding it whole, a
        growing one (`bevlog watch`) from where the last read stopped, a file of several
        launches launch by launch. `read` is then `parsers.follow.read_whole` over the
        content. A format without a follower is read whole by `read` (again, when followed,
        whenever the file changes).

Files are read through `parsers.loader` (`read_file`, `Loader`): it opens the bytes
(`parsers.source`: bounded by the input cap, gunzipped, UTF-8), picks the format with
`detect`, and reads through the format's follower or its `read`.

Files of one run are grouped by `parsers.discovery.run_key` from their paths; a format whose
files of one run are not named `<stem>[_<timestamp>]` adds its naming rule there.
"""

from __future__ import annotations

import fnmatch
import importlib
import os
import re
import zlib
from typing import NamedTuple

from parsers.io import BOMS, GZIP_MAGIC

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
    Format("ultralytics-csv", "parsers.formats.ultralytics_csv", ()),  # read when named: no directory search
)
ENGINES = ("fast", "python")
SNIFF = 1 << 20  # bytes looked at, at the start (and for `tail` formats at the end) of a file
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
