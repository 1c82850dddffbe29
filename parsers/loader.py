"""The one loader of a log file: `read_file(path)` reads it as it is, `Loader(path).load()`
returns only what was appended since the last call (TensorBoard's event-file loader).

Both go the same road: the file's bytes (`parsers.source`: a file where it lies, or stdin, a
FIFO, gzip data read once, all bounded by the input cap) are sniffed for their format
(`parsers.formats`), then read in pieces by the format's follower (`parsers.follow`): all
at once when the file is small, PIECE bytes at a time when it is big, what was appended
when it is followed. Whatever the cuts, a launch comes out as the Segment of the launch read
whole (tests/parsers/test_loader.py: whole, in pieces, byte by byte, line by line, in
random chunks). A format without a follower is read whole by its `read`, again whenever the
file changes; so is a `.gz` that is followed.

Following (`Loader.load`):
- a file is known by its device, inode and first bytes (`parsers.source.Identity`): a log
  replaced under the same name, or truncated and written again (copytruncate), even to the
  same size or longer, is a new file: the update says to drop everything (`reset_from=0`)
  and the new file is read from its start;
- a partial last line (the writer is mid-line) waits for its newline and is looked at only
  once: later calls look only at the bytes appended since;
- what follows the last place the follower can read for good (a traceback or a header block
  being written) is read again, with what comes after it, on the next call (`tentative`);
- the cap holds while the file grows; a character device (`watch /dev/zero`) is refused at
  once.
"""

from __future__ import annotations

import re

from parsers.bounds import OUT_OF_RANGE
from parsers.follow import PIECE, SCAN, Follower, PieceReader, Update, read_whole
from parsers.formats import ENGINES, FORMATS, SNIFF, detect, module, sniff_head
from parsers.formats.jsonl.reader import INVALID_LINE, NO_MODE, NOT_AN_OBJECT
from parsers.formats.text.reader import CUT_AT_LIMIT, MALFORMED
from parsers.formats.text.train import DAMAGED
from parsers.io import display_name
from parsers.run import ParseError
from parsers.segment import Segment, with_skipped
from parsers.source import HEAD_PRINT, FileSource, Identity, MemorySource, open_source

NOT_A_LOG = (
    "not a training log: no log lines or rows of a known format found (mmcv, mmengine, DETR, detectron2, TensorBoard)"
)
# why a train line (or JSON row) is not read: a file of them only is a problem, not a run
REJECTED = (DAMAGED, MALFORMED, CUT_AT_LIMIT, OUT_OF_RANGE, INVALID_LINE, NOT_AN_OBJECT, NO_MODE)
NOT_YET = "not a training log yet: no mmcv/mmengine log lines"
YET_BYTES = SNIFF // 16  # a file this short may still become a log (its first lines being written)


def read_file(path: str, engine: str = "fast", chunk: int | None = None, piece: int = PIECE) -> list[Segment]:
    """One log file ('-': stdin; .gz by its magic bytes) -> its Segments, one per launch in
    file order. Raises ParseError (one line, naming the file) when it is no log.
    `chunk`: bytes a text engine parses at a time; `piece`: bytes read at a time."""
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, not {engine!r}")
    return read_source(open_source(path), engine, chunk, piece)


def read_source(src: FileSource | MemorySource, engine: str, chunk: int | None, piece: int) -> list[Segment]:
    """`read_file` of an opened source."""
    size = src.size()
    kind = _kind(src, size, final=True)
    follower = _follower(kind, src.name, engine, chunk)
    if follower is None:
        segments = module(kind).read(src.name, [src.read(0, size)], engine=engine, chunk=chunk)
    else:
        segments = read_whole(src, follower, piece, array=kind.endswith("json"))
    if isinstance(src, MemorySource):
        for note in src.notes:  # e.g. a .gz cut short: the run's problems say it
            segments[-1] = with_skipped(segments[-1], note)
    check_understood(src.name, segments)
    return segments


def check_understood(name: str, segments: list[Segment]) -> None:
    """ParseError for a file of which no train line was read although some were there (all
    rejected), or of which nothing at all was understood: never a run of 0 rows to be judged
    healthy. A log of a header only (a launch that never trained) is understood."""
    if any(s.rows for s in segments):
        return
    rejected: dict[str, int] = {}
    for s in segments:
        for reason, n in s.skipped.items():
            if reason.startswith(REJECTED):
                rejected[reason] = rejected.get(reason, 0) + n
    first = min(
        (n for s in segments for r, ls in s.skipped_lines.items() if r.startswith(REJECTED) for n in ls), default=None
    )
    if rejected:
        counts = ", ".join(f"{n:,} × {reason}" for reason, n in rejected.items())
        raise ParseError(name, f"no train line could be read, every one was rejected: {counts}", first)
    stated = (
        "eval_metric",
        "test_metrics",
        "config_text",
        "env_lines",
        "json_meta",
        "resumes",
        "max_epochs",
        "max_iters",
        "checkpoints",
    )
    if not any(getattr(s, field) for s in segments for field in stated):
        lines = sum(s.log_lines for s in segments)
        raise ParseError(
            name, f"nothing in it was understood: no train or evaluation record, no run header ({lines:,} logger lines)"
        )


class Loader:
    """One log file being written: `load()` reads what was appended since its last call."""

    def __init__(self, path: str, engine: str = "fast", chunk: int | None = None, piece: int = PIECE):
        self.path, self.name = str(path), display_name(path)
        self.engine, self.chunk, self.piece = engine, chunk, piece
        self.bytes_read = 0  # bytes read from the file over every call (what following costs)
        self._forget()

    def _forget(self) -> None:
        self.seen: Identity | None = None  # the file as first read
        self.reader: PieceReader | None = None
        self.kind: str | None = None
        self.complete = 0  # the end of its last complete line
        self.scanned = 0  # bytes already looked at for a newline
        self.whole_key: tuple | None = None  # a file read whole: its stat when read
        self.whole_read = False

    @property
    def offset(self) -> int:
        """Bytes read for good."""
        return self.reader.offset if self.reader is not None else 0

    @property
    def end(self) -> int:
        """Bytes read, the tentative end of a growing log included."""
        if self.reader is not None:
            return self.reader.end
        return self.whole_key[2] if self.whole_key is not None else 0

    def load(self) -> Update:
        """What was appended since the last call: its launch pieces (see the module
        docstring); `tentative` None when nothing changed. ParseError when the file is
        missing, unreadable, too large, or no training log."""
        src = open_source(self.path)
        try:
            return self._load(src)
        finally:
            self.bytes_read += getattr(src, "bytes_read", 0)

    def _load(self, src: FileSource | MemorySource) -> Update:
        if isinstance(src, MemorySource) or (self.kind is not None and self.reader is None):
            return self._whole(src)
        reset = None
        size = src.size()
        if self.seen is not None and (not src.same_file(self.seen) or size < self.complete):
            self._forget()
            reset = 0
        end = self._complete_end(src, size)
        if self.reader is None:
            if end == 0:
                return Update(reset_from=reset, replaced=reset is not None)  # not one complete line yet
            self.kind = _kind(src, end, final=False)
            follower = _follower(self.kind, src.name, self.engine, self.chunk)
            if follower is None:
                return self._whole(src)
            self.reader = PieceReader(src, follower, self.piece, array=self.kind.endswith("json"))
            self.seen = src.identity()
        elif end == self.reader.end and reset is None:
            return Update(tentative=None)  # nothing new
        elif self.seen is not None and self.seen.head_bytes < HEAD_PRINT <= size:
            self.seen = src.identity()  # the file grew past what identified it
        self.reader.source = src
        update = self.reader.read(end, final=False)
        if reset is not None:
            update.reset_from, update.replaced = 0, True
        return update

    def finish(self, launches: list[Segment]) -> list[Segment]:
        """The launches read so far (one Segment each, pieces put together) as the file
        states them (`parsers.follow.PieceReader.finish`)."""
        if self.reader is None:
            return launches
        return self.reader.finish(launches)

    def _complete_end(self, src: FileSource, size: int) -> int:
        """The end of the file's last complete line, looking only at bytes not looked at yet."""
        pos = size
        floor = max(self.complete, self.scanned)
        while pos > floor:
            a = max(floor, pos - SCAN)
            nl = bytes(src.read(a, pos)).rfind(b"\n")
            if nl >= 0:
                self.complete = a + nl + 1
                break
            pos = a
        self.scanned = size
        return self.complete

    def _whole(self, src: FileSource | MemorySource) -> Update:
        """A file read whole (gzip data, a format without a follower): again when it changed."""
        st = src.stat()
        key = None if st is None else (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
        if self.whole_read and key is not None and key == self.whole_key:
            return Update(tentative=None)  # nothing new
        again = self.whole_read
        self.whole_key, self.whole_read = key, True
        segments = read_source(src, self.engine, self.chunk, self.piece)
        self.kind = self.kind or "whole"
        return Update(reset_from=0, replaced=again, parts=list(enumerate(segments)))


def _kind(src: FileSource | MemorySource, end: int, final: bool) -> str:
    """The format of a source's first `end` bytes (its head, and its last MiB for formats
    whose log may start with other output); ParseError when none recognises it."""
    head = bytes(src.read(0, min(end, SNIFF)))
    if end <= SNIFF and re.search(rb"\S", head) is None:
        raise ParseError(src.name, "empty file" if final else "no log line yet")
    kind = detect(sniff_head(head))
    if kind is None and end > SNIFF:
        tail = bytes(src.read(end - SNIFF, end))
        kind = next((f.name for f in FORMATS if f.tail and module(f.name).sniff(tail)), None)
    if kind is None:
        raise ParseError(src.name, NOT_YET if not final and end < YET_BYTES else NOT_A_LOG)
    return kind


def _follower(kind: str, name: str, engine: str, chunk: int | None) -> Follower | None:
    make = getattr(module(kind), "follower", None)
    return make(name, engine, chunk) if make is not None else None
