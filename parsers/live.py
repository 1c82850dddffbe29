"""A log that is still being written, read incrementally (for `bevlog watch`).

`LiveLog.update()` reads only the bytes appended since the last call: the complete lines
among them (a partial last line waits for the next call) are parsed as a piece by the
format's engine (`parsers.formats.text.reader.read_text` / `parsers.formats.jsonl.reader.
read_json`: they parse any run of whole lines) and kept as pieces of the launch
(`parsers.segment.concat_pieces` puts them together). The file's first read goes in
pieces of CHUNK bytes cut before record lines, as a big log is read
(`parsers.formats.text.pieces`; the first piece holds the whole header), so memory follows
the rows kept (compact float arrays, about a third of the text they came from) and not the
file. `run()` assembles the Run from the kept rows (and the earlier resume segments found
beside the file) with `parsers.assemble.build_run`, as `parsers.read` does: the same run as
reading the whole file at once (tests/bevlog/test_live.py).

Limits, by design: a multi-line message cut by a poll (a traceback being written) is read
as two pieces; whether a text log is a console capture is decided by its first piece.
While the file holds no train/val record yet it is read again whole on each change (a
header block cut by a poll would lose its end). When the file shrinks (truncated, or
replaced) everything read is dropped and the file is read again from its start; a .gz log
is read whole whenever its size changes.
"""

from __future__ import annotations

import os
from dataclasses import replace

from parsers.assemble import build_run
from parsers.discovery import expand, group_segments, run_key
from parsers.formats import SNIFF, detect, module
from parsers.formats.jsonl.reader import read_json
from parsers.formats.mmengine_json import with_config_beside
from parsers.formats.text.pieces import CHUNK, cut_point
from parsers.formats.text.reader import read_text
from parsers.identity import split_runs
from parsers.io import GZIP_MAGIC, display_name
from parsers.reader import read_guarded, read_unit
from parsers.run import ParseError, Run
from parsers.segment import Segment, concat_pieces, shift_lines, slice_rows
from parsers.tracebacks import TAIL_BYTES, tail_of

MERGE_EVERY = 32  # pieces kept apart before they are put together
LINE_READ = 1 << 20  # bytes read on when a chunk ends mid-line


def earlier_segments(path: str) -> list[Segment]:
    """Segments of the other files of the followed log's run directory that share its run
    key (resumes, read whole, their twins with them): what `parsers.read(path, beside=True)`
    would read beside it. Which of them are this run is identity's call (`segments()`)."""
    here = os.path.abspath(path)
    files, _ = expand([path], beside=True)
    out: list[Segment] = []
    for _, units in group_segments(files):
        for unit in units:
            if here not in (os.path.abspath(f) for f in unit):
                try:
                    out.extend(read_unit(unit))
                except Exception:  # noqa: BLE001 - an unreadable earlier file: follow this one
                    continue
    return out


class LiveLog:
    """What has been read of one growing log file."""

    def __init__(self, path: str, chunk: int = CHUNK):
        self.path = path
        self.chunk = chunk
        self.reset()

    def reset(self) -> None:
        self.offset = 0  # bytes read: the end of the last complete line
        self.lines = 0  # lines read
        self.dialect: str | None = None  # a text log's dialect
        self.library: str | None = None  # a json log's library ("mmcv" / "mmengine")
        self.console: bool | None = None  # a text log's first piece was a console capture (else: by content)
        self.segment: Segment | None = None  # the rows read so far
        self.pending: list[Segment] = []  # pieces not yet put together with `segment`
        self.before: list[Segment] | None = None  # earlier segments of the run (read once)
        self.header_only = False  # no train/val record read yet
        self.gz_size: int | None = None  # size of a .gz log when it was read

    @property
    def is_text(self) -> bool:
        return self.dialect is not None

    @property
    def rows(self) -> int:
        return (self.segment.rows if self.segment is not None else 0) + sum(s.rows for s in self.pending)

    def update(self) -> bool:
        """Read what was appended; True when something new was read. Raises ParseError
        (the file is missing, unreadable, or not a training log)."""
        try:
            size = os.path.getsize(self.path)
        except OSError as exc:
            raise ParseError(self.path, exc.strerror or str(exc)) from None
        if self.offset == 0 and self._gzipped():
            return self._read_whole(size)
        if size < self.offset or (self.header_only and size > self.offset):
            # truncated or replaced: start over; or only a header so far: read it again
            # whole (a header block cut by a poll would lose its end)
            self.reset()
        if size == self.offset:
            return False
        if self.offset == 0 and not self._sniff():
            return False  # not one complete line yet
        got = False
        while self.offset < size:
            data = self._next_piece(size)
            if data is None:
                break
            self._parse(data)
            got = True
        return got

    def _next_piece(self, size: int) -> bytes | None:
        """The next piece of what is already there: pieces end where a record line starts
        (no message is cut, the header is read whole); the last one after the last complete
        line. None when there is no complete line yet."""
        stop = min(size, self.offset + self.chunk)
        data = self._read(self.offset, stop)
        while self.is_text and data is not None and stop < size and cut_point(data) == 0:
            stop = min(size, stop + max(self.chunk, len(data)))
            data = self._read(self.offset, stop)
        if self.is_text and data is not None and stop < size:
            data = data[: cut_point(data)]
        return data

    def _tail(self) -> tuple[str, ...]:
        """The last lines read so far (up to the last complete line), as the text reader
        keeps them for a whole file."""
        start = max(0, self.offset - TAIL_BYTES)
        try:
            with open(self.path, "rb") as f:
                f.seek(start)
                data = f.read(self.offset - start)
        except OSError:
            return ()
        return tuple(tail_of(data if start == 0 else b"\n" + data))

    def _gzipped(self) -> bool:
        try:
            with open(self.path, "rb") as f:
                return f.read(2) == GZIP_MAGIC
        except OSError:
            return False

    def _read_whole(self, size: int) -> bool:
        """A .gz log (a finished run, or one that is rewritten whole): read it whole, again
        whenever its size changes."""
        if self.segment is not None and size == self.gz_size:
            return False
        self.reset()
        self.segment = read_guarded(self.path)[-1]  # the launch being followed
        self.gz_size = size
        return True

    def _read(self, start: int, stop: int) -> bytes | None:
        """The complete lines in [start, stop) (past stop if the chunk ends mid-line);
        None when there is no complete line yet."""
        try:
            with open(self.path, "rb") as f:
                f.seek(start)
                data = f.read(stop - start)
                end = data.rfind(b"\n")
                while end < 0:  # a chunk without a newline: read on to the end of the line
                    more = f.read(LINE_READ)
                    if not more:
                        return None  # a partial last line: wait for the writer
                    data += more
                    end = data.rfind(b"\n")
        except OSError as exc:
            raise ParseError(self.path, exc.strerror or str(exc)) from None
        return data[: end + 1]

    def _sniff(self) -> bool:
        """The kind of log, from its first MB (parsers.formats); False while the file holds
        no complete line, ParseError when it is no log (yet: a log whose first lines are
        still being written is waited for)."""
        head = self._read(0, SNIFF)
        if head is None:
            return False
        kind = detect(head)
        if kind is None:
            if len(head) < SNIFF // 16:
                raise ParseError(self.path, "not a training log yet: no mmcv/mmengine log lines")
            raise ParseError(self.path, "not a training log: no mmcv/mmengine log lines or JSON log rows found")
        if kind not in ("mmcv-json", "mmengine-json") and not hasattr(module(kind), "DIALECT"):
            raise ParseError(self.path, f"a {kind} log: watch follows mmcv/mmengine logs as they grow; "
                                        "read this one whole (bevlog watch --once, bevlog diagnose)")
        if kind.endswith("json"):
            self.library = "mmcv" if kind == "mmcv-json" else "mmengine"
        else:
            self.dialect = module(kind).DIALECT
        return True

    def _parse(self, data: bytes) -> None:
        first = self.offset == 0
        seg = self._piece(data, first)
        if first and self.is_text and not seg.log_lines:
            raise ParseError(self.path, "not a training log yet: no mmcv/mmengine log lines")
        if first:
            self.console = True if seg.format == "console" else None
            self.segment = seg
            self.header_only = seg.rows == 0 and not seg.eval_metric
        else:
            self.pending.append(shift_lines(seg, self.lines))
            if len(self.pending) >= MERGE_EVERY:
                self._merge()
        self.offset += len(data)
        self.lines += data.count(b"\n")

    def _piece(self, data: bytes, first: bool) -> Segment:
        name = display_name(self.path)
        if self.dialect is not None:
            return read_text(name, data, self.dialect, self.console)
        seg = read_json(name, [data], self.library or "mmengine")
        return with_config_beside(seg) if first and self.library == "mmengine" else seg

    def _merge(self) -> None:
        if self.pending and self.segment is not None:
            self.segment = concat_pieces([self.segment] + self.pending)
            self.pending = []

    def segments(self) -> list[Segment]:
        """The run's segments: the earlier files (read once) that identity puts in this
        file's run (parsers.identity: a resume record or continuing steps), then this file's
        rows. Segments are frozen: another thread may read them while this object reads on."""
        if self.before is None:
            self.before = earlier_segments(self.path)
        self._merge()
        if self.segment is None:
            return list(self.before)
        if self.is_text:
            self.segment = replace(self.segment, tail=self._tail())  # how it ends so far (Meta.tail)
        return next(r for r in split_runs(self.before + [self.segment]) if any(s is self.segment for s in r))

    def snapshot(self) -> list[Segment]:
        """`segments()` as they are now, safe to read in another thread while this object
        reads on (segments are frozen; reading on replaces them, never changes them)."""
        return list(self.segments())

    def run(self, segments: list[Segment] | None = None) -> Run:
        """The Run as read so far (what parsers.read would give for the file as it is now,
        up to its last complete line); of `segments` (a snapshot) when given."""
        segs = segments if segments is not None else self.segments()
        return build_run(segs, run_key(self.path)[1], [s.source for s in segs])

    def tail_run(self, context_rows: int, since_row: int) -> tuple[Run | None, float | None]:
        """A Run of this file's rows from `since_row - context_rows` on (with the file's
        header; the earlier files and this file's earlier evaluations left out), for the
        quick rules; also the step of row `since_row` (None if there is none). Costs the
        rows it holds, not the file: the rows read so far are not copied."""
        if self.segment is None or self.rows == 0:
            return None, None
        start = max(0, min(since_row, self.rows) - context_rows)
        pieces = [slice_rows(self.segment, min(start, self.segment.rows))]
        at = self.segment.rows
        for seg in self.pending:
            if at + seg.rows > start:
                pieces.append(slice_rows(seg, max(0, start - at)))
            at += seg.rows
        run = build_run([concat_pieces(pieces)], run_key(self.path)[1], [self.segment.source])
        k = since_row - start
        step = float(run.train["step"].iloc[k]) if 0 <= k < len(run.train) else None
        return run, step
