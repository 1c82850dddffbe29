"""A log that is still being written (`bevlog watch`), read through the one loader.

`LiveLog.update()` asks `parsers.loader.Loader` for what was appended since the last call
and keeps it: the pieces of each launch of the file, read for good, and the tentative parts
of its unfinished end (replaced on each update). `run()` assembles the Run of the launch
being written, with the earlier launches of the file and the earlier files of its run
directory that identity puts in the same run (`parsers.identity`: a resume record or
continuing steps), as `parsers.read(path, beside=True)` does for the file as it is now, up to
its last complete line (tests/parsers/test_loader.py). Memory follows the rows kept (compact
float arrays, about a third of the text they came from), not the file: pieces are put
together every MERGE_EVERY updates.

When the file is replaced or truncated (`Loader`: a new device, inode or first bytes), or a
launch has to be read again (its year found late), what was read of it is dropped
(`resets` counts it) and read again.
"""

from __future__ import annotations

import os

from parsers.assemble import build_run
from parsers.discovery import expand, group_segments, run_key
from parsers.follow import PIECE
from parsers.identity import split_runs
from parsers.loader import Loader
from parsers.reader import read_unit
from parsers.run import Run
from parsers.segment import Segment, concat_pieces, slice_rows

MERGE_EVERY = 32  # pieces of a launch kept apart before they are put together


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

    def __init__(self, path: str, piece: int = PIECE, chunk: int | None = None):
        self.path = path
        self.loader = Loader(path, chunk=chunk, piece=piece)
        self.launches: list[list[Segment]] = []  # pieces read for good, per launch of the file
        self.tentative: list[tuple[int, Segment]] = []  # (launch, part) of the unfinished end
        self.before: list[Segment] | None = None  # earlier files of the run (read once)
        self.resets = 0  # times what was read had to be dropped (and read again)
        self.replacements = 0  # times the file was replaced or truncated (a new file)

    @property
    def offset(self) -> int:
        """Bytes read for good."""
        return self.loader.offset

    @property
    def started(self) -> bool:
        """A complete line of a training log has been read."""
        return bool(self.launches or self.tentative)

    def update(self) -> bool:
        """Read what was appended; True when something new was read. Raises ParseError
        (the file is missing, unreadable, too large, or not a training log)."""
        got = self.loader.load()
        changed = False
        if got.reset_from is not None:
            del self.launches[got.reset_from :]
            self.resets += 1
            self.replacements += got.replaced
            self.tentative = []
            changed = True
        for k, seg in got.parts:
            while len(self.launches) <= k:
                self.launches.append([])
            pieces = self.launches[k]
            pieces.append(seg)
            if len(pieces) >= MERGE_EVERY:
                pieces[:] = [concat_pieces(pieces)]
            changed = True
        if got.tentative is not None:
            changed = changed or bool(got.tentative) or bool(self.tentative)
            self.tentative = got.tentative
        return changed

    def _pieces(self) -> list[list[Segment]]:
        """Each launch's pieces, the tentative ones included."""
        out = [list(p) for p in self.launches]
        for k, seg in self.tentative:
            while len(out) <= k:
                out.append([])
            out[k].append(seg)
        return [p for p in out if p]

    @property
    def launch(self) -> int:
        """The index of the launch being written (-1: none yet)."""
        return len(self._pieces()) - 1

    @property
    def rows(self) -> int:
        """Train rows read of the launch being written."""
        pieces = self._pieces()
        return sum(s.rows for s in pieces[-1]) if pieces else 0

    def file_segments(self) -> list[Segment]:
        """This file's launches as read so far, as the file states them."""
        return self.loader.finish([concat_pieces(p) for p in self._pieces()])

    def segments(self) -> list[Segment]:
        """The segments of the run being written: the earlier launches and files (read once)
        that identity puts in its run, then the launch being written. Segments are frozen:
        another thread may read them while this object reads on."""
        if self.before is None:
            self.before = earlier_segments(self.path)
        mine = self.file_segments()
        if not mine:
            return list(self.before)
        last = mine[-1]
        return next(r for r in split_runs(self.before + mine) if any(s is last for s in r))

    def snapshot(self) -> list[Segment]:
        """`segments()` as they are now, safe to read in another thread while this object
        reads on (segments are frozen; reading on replaces them, never changes them)."""
        return list(self.segments())

    def run(self, segments: list[Segment] | None = None) -> Run:
        """The Run as read so far (what parsers.read would give for the file as it is now,
        up to its last complete line); of `segments` (a snapshot) when given."""
        segs = segments if segments is not None else self.segments()
        return build_run(segs, run_key(self.path)[1], list(dict.fromkeys(s.source for s in segs)))

    def tail_run(self, context_rows: int, since_row: int) -> tuple[Run | None, float | None]:
        """A Run of the launch being written, its rows from `since_row - context_rows` on
        (with its header; earlier launches, files and evaluations left out), for the quick
        rules; also the step of row `since_row` (None if there is none). Costs the rows it
        holds, not the file: the rows read so far are not copied."""
        launches = self._pieces()
        pieces = launches[-1] if launches else []
        total = sum(s.rows for s in pieces)
        if not total:
            return None, None
        start = max(0, min(since_row, total) - context_rows)
        out = [slice_rows(pieces[0], min(start, pieces[0].rows))]
        at = pieces[0].rows
        for seg in pieces[1:]:
            if at + seg.rows > start:
                out.append(slice_rows(seg, max(0, start - at)))
            at += seg.rows
        run = build_run([concat_pieces(out)], run_key(self.path)[1], [pieces[0].source])
        k = since_row - start
        step = float(run.train["step"].iloc[k]) if 0 <= k < len(run.train) else None
        return run, step
