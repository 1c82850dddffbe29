"""What a format gives the loader (`parsers.loader`) to be read in pieces: a `Follower`.

A format module may offer `follower(source, engine, chunk) -> Follower` beside its `read`
(`parsers.formats`). The loader then reads the file in pieces — all of it at once when it is
small, `PIECE` bytes at a time when it is big, what was appended since the last call when it
is followed (`bevlog watch`) — and hands each piece to the follower, which parses it into
`Part`s: pieces of launches, in file order, each saying whether it begins a new launch (a
nohup.out or an appended `.log.json` holds several). Whatever the cuts, the parts of one
launch put together (`parsers.segment.concat_pieces`) are the Segment of the launch read
whole: pieces end where the format says a piece may end (`piece_end`), and what the follower
learns late about the whole file (a console capture's first traceback after a line that a
terminal cut; the year of a console launch, found after its first rows) it answers with
`Restart`: the loader reads again from the start of that launch, with what was learnt.

A format without a follower is read whole by its `read` (again whenever the file changes).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import numpy as np

from parsers.segment import SKIPPED_LINES_KEPT, Launch, Segment, concat_pieces


@dataclass(frozen=True)
class Part:
    """A piece of one launch: `segment` (line numbers counted from the file's first line),
    `begins` (it starts a new launch; the file's first part always belongs to launch 0),
    `offset` (where it starts in the piece's bytes)."""

    segment: Segment
    begins: bool
    offset: int


class Restart(Exception):
    """Read again from the start of launch `launch`, knowing `facts` (what the follower's
    `learn` takes: e.g. {"console": True} or {"year": (2024, "Exp name timestamp …")})."""

    def __init__(self, launch: int, facts: dict[str, Any]):
        super().__init__(f"read launch {launch} again with {facts}")
        self.launch = launch
        self.facts = facts


class Follower(Protocol):
    """A format's reader of pieces (see the module docstring)."""

    def normalize(self, data: Any) -> Any:
        """The bytes as the format reads them, of the same length (a text log's lone '\r'
        before a logger line ends a line); the loader cuts and counts lines on them."""
        ...

    def piece_end(self, data: bytes) -> int:
        """Where a piece that is not the last one may end: a byte offset in `data` (which
        holds whole lines), 0 when no cut is allowed in it (the loader reads on)."""
        ...

    def commit_end(self, data: bytes) -> int:
        """Of the last complete lines of a log still being written, how many bytes can be
        read for good; what follows (a message block being written, a traceback) is read
        again, with what comes after it, on the next call."""
        ...

    def prepare(self, data: Any) -> Callable[[], Any]:
        """The work on a piece that depends on its bytes alone (its lines, scanned), as a
        function the loader runs in another thread while the piece before it is read; its
        result reaches `read` as `prepared` (a Future)."""
        ...

    def read(self, data: Any, first_line: int, prepared: Future | None = None) -> list[Part]:
        """Parse a piece (bytes, or a uint8 array for a JSON-lines file) that
        starts at 0-based line `first_line` of the file; `prepared`: its `prepare` work, done
        or under way (used when the piece is read as it was prepared, else done again)."""
        ...

    def state(self) -> Any:
        """A copy of what the follower knows (the loader reads the unfinished end of a growing
        log with it, then puts it back with `set_state`)."""
        ...

    def set_state(self, state: Any) -> None: ...

    def rewind(self, launch: int, facts: dict[str, Any]) -> None:
        """Back to the state in which launch `launch` began, knowing `facts` (a Restart's)."""
        ...

    def finish(self, segments: list[Segment], reread: Any) -> list[Segment]:
        """The launches as read (one Segment each) -> as the file states them: what only the
        whole file says (the label of a console capture, the last lines of each launch:
        `reread(k, n)` gives the last `n` bytes of launch k, or all of it when it is shorter)."""
        ...

    def pending(self) -> Restart | None:
        """At the end of what can be read: a Restart still needed (a launch that can take its
        year only from a later one), else None."""
        ...


PIECE = 64 << 20  # bytes parsed at a time: a file larger than this is read in pieces
MAX_LINE = 16 << 20  # a line longer than this is skipped and counted, never held whole
GROW_LIMIT = 4 * PIECE  # a piece with no place to cut grows to this, then is cut at a line end
LONG_LINE = f"line longer than {MAX_LINE >> 20} MiB (skipped unread)"
SCAN = 1 << 20  # bytes looked at a time: for the end of a long line, for where a piece may end


@dataclass
class Update:
    """What one read of a source gave: launches from `reset_from` on are to be dropped
    first (None: nothing is dropped), then `parts` ((launch, piece) read for good) appended;
    `tentative` are the parts of the unfinished end of a growing log, which replace the last
    update's (None: nothing changed, the last update's still hold)."""

    reset_from: int | None = None
    replaced: bool = False  # the file was replaced or truncated: a new file, read from its start
    parts: list[tuple[int, Segment]] = field(default_factory=list)
    tentative: list[tuple[int, Segment]] | None = field(default_factory=list)


@dataclass
class _Start:
    offset: int  # byte where the launch begins
    line: int  # 0-based line where it begins


class PieceReader:
    """A source read through a follower, piece by piece, from where the last read stopped.

    `read(end, final)` reads the source's bytes [offset, end): `final` for a file read as it
    is (the last line counts even without its newline), else `end` is the end of a growing
    log's last complete line and what follows the last place the follower can commit is
    tentative. Pieces are at most `piece` bytes of whole lines (a line longer than MAX_LINE is
    skipped and counted, read a block at a time, never held); a piece that holds no place to
    cut grows up to GROW_LIMIT. `array`: pieces are read into uint8 arrays (the JSON-lines
    engine's fast path: filled straight from the page cache, cut without a copy)."""

    def __init__(self, source: Any, follower: Follower, piece: int = PIECE, array: bool = False):
        self.source, self.follower, self.piece, self.array = source, follower, piece, array
        self.offset = 0  # bytes read for good
        self.line = 0  # lines read for good
        self.starts: list[_Start] = []  # where each launch begins
        self.long_lines: list[int] = []  # 1-based lines skipped as too long
        self.end = 0  # the end of the bytes read (tentative ones included)
        self.seen_state: Any = None  # the follower's state after the tentative end was read
        self.tentative_starts: list[_Start] = []  # launches begun in the tentative end
        self.lines_end = 0  # lines up to `end` (a last line without its newline counts)

    @property
    def launches(self) -> int:
        return len(self.starts)

    def read(self, end: int, final: bool) -> Update:
        update = Update()
        while True:
            try:
                self._read_to(end, final, update)
                restart = self.follower.pending()
                if restart is None:
                    return update
                raise restart
            except Restart as r:
                self._rewind(r, update)

    def _rewind(self, r: Restart, update: Update) -> None:
        k = r.launch
        self.follower.rewind(k, r.facts)
        self.offset, self.line = self.starts[k].offset, self.starts[k].line
        del self.starts[k + 1 :]
        self.long_lines = [n for n in self.long_lines if n <= self.line]
        update.reset_from = k if update.reset_from is None else min(update.reset_from, k)
        update.parts = [(launch, seg) for launch, seg in update.parts if launch < k]

    def _read_to(self, end: int, final: bool, update: Update) -> None:
        update.tentative = []
        self.seen_state = None
        self.tentative_starts = []
        pool = None  # scans the next piece (the follower's `prepare`) while this one is read
        ahead: Any = None  # that next piece: (offset, (data, reaches_end, cut), Future of its scan)
        try:
            while self.offset < end:
                if ahead is not None and ahead[0] == self.offset:
                    (data, reaches_end, cut), prepared = ahead[1], ahead[2]
                else:
                    (data, reaches_end, cut), prepared = self._take(end), None
                ahead = None
                if data is None:
                    continue  # a long line was skipped
                following = self._next_piece(self.offset + len(data), end) if final and not reaches_end else None
                if following is not None:
                    pool = pool or ThreadPoolExecutor(1)
                    ahead = (self.offset + len(data), following, pool.submit(self.follower.prepare(following[0])))
                if self._read_piece(data, reaches_end, cut, end, final, update, prepared):
                    return
        finally:
            if pool is not None:
                pool.shutdown(cancel_futures=True)
        self._mark_end(end, final)

    def _read_piece(self, data, reaches_end: bool, cut: int, end: int, final: bool, update: Update, prepared) -> bool:
        """Read a piece taken at `offset` for good, up to where it may be; True when the
        unfinished end of a growing log was reached (and read tentatively)."""
        if not reaches_end:
            commit = cut or len(data)  # no place to cut even grown to its limit: at a line end
        elif final:
            commit = len(data)
        else:
            commit = self.follower.commit_end(data)
            if commit == 0 and len(data) >= GROW_LIMIT:
                commit = len(data)  # no place to commit in so much: read it for good anyway
        if commit:
            piece = data if commit == len(data) else data[:commit]
            prepared = prepared if piece is data else None  # it was prepared whole
            update.parts.extend(self._parts(piece, self.offset, self.line, self.starts, prepared))
            self.offset += commit
            self.line += count_lines(piece)
        if reaches_end and commit < len(data):  # the unfinished end of a growing log
            self._tentative(data[commit:], update)
            self._mark_end(end, final)
            return True
        return False

    def _next_piece(self, start: int, end: int) -> tuple[Any, bool, int] | None:
        """The piece at `start` of a file read as it is, as `_take` will take it; None when
        there is none or finding it needs a whole piece looked at (`_take` then takes it when
        it is due)."""
        if start >= end:
            return None
        if start + self.piece >= end:
            data = self.follower.normalize(self.source.read(start, end, array=self.array))
            return (data, True, 0) if _long_line(data, True) < 0 else None
        data = self._cut_piece(start)
        return None if data is None else (data, False, len(data))

    def _mark_end(self, end: int, final: bool) -> None:
        self.end = max(self.offset, end)
        partial = final and end > 0 and bytes(self.source.read(end - 1, end)) != b"\n"
        self.lines_end = self.line + int(partial)

    def _tentative(self, data: Any, update: Update) -> None:
        state = self.follower.state()
        starts = list(self.starts)
        try:
            update.tentative = self._parts(data, self.offset, self.line, starts)
            self.seen_state = self.follower.state()  # what the whole file says so far
            self.tentative_starts = starts[len(self.starts) :]
        finally:
            self.follower.set_state(state)
        self.lines_end = self.line + count_lines(data)

    def _parts(
        self, data: Any, offset: int, line: int, starts: list[_Start], prepared: Future | None = None
    ) -> list[tuple[int, Segment]]:
        """The follower's parts of a piece, by launch; launches begun in it added to `starts`."""
        out = []
        for part in self.follower.read(data, line, prepared):
            if part.begins or not starts:
                at = count_lines(data[: part.offset]) if part.offset else 0
                starts.append(_Start(offset + part.offset, line + at))
            out.append((len(starts) - 1, part.segment))
        return out

    def _take(self, end: int) -> tuple[Any, bool, int]:
        """The next piece: whole lines from `offset`, at most `piece` bytes unless one line is
        longer (or no place to cut is found in it); (None, False, 0) when a line longer than
        MAX_LINE was skipped instead. `reaches_end`: the piece goes up to `end`; `cut`: where
        the follower may end it (0: nowhere; asked only of a piece that does not reach `end`)."""
        start = self.offset
        size = self.piece
        if start + size < end:
            data = self._cut_piece(start)
            if data is not None:
                return data, False, len(data)
        while True:
            stop = min(end, start + size)
            data = self.follower.normalize(self.source.read(start, stop, array=self.array))
            reaches_end = stop == end
            long_at = _long_line(data, reaches_end)
            if long_at == 0:
                self._skip_long_line(end)
                return None, False, 0
            if long_at > 0:
                data = data[:long_at]
                return data, False, self.follower.piece_end(data) or len(data)
            cut = 0
            if not reaches_end:
                nl = _last_newline(data)
                if nl < 0:  # one line longer than the piece: read on to its end
                    size *= 2
                    continue
                data = data[: nl + 1]
                cut = self.follower.piece_end(data)
                if cut == 0 and size < GROW_LIMIT:
                    size *= 2  # no place to cut yet (a long header): read on
                    continue
            return data, reaches_end, cut

    def _cut_piece(self, start: int) -> Any:
        """The piece at `start` read just up to where it may end, found from its tail (no copy
        of its head to drop the tail); None when the tail has no such place, or the piece holds
        a line longer than MAX_LINE."""
        cut = self._cut_from_tail(start, start + self.piece)
        if not cut:
            return None
        data = self.follower.normalize(self.source.read(start, cut, array=self.array))
        return data if _long_line(data, False) < 0 else None

    def _cut_from_tail(self, start: int, stop: int) -> int:
        """Where a piece of the bytes [start, stop) may end, found from its last SCAN bytes
        (at most its second half; their whole lines, given to the follower's `piece_end`: a
        place to cut in them is one in the piece); 0 when those bytes have none (the piece is
        then read and looked at whole)."""
        at = max(start + (stop - start) // 2, stop - SCAN)
        tail = bytes(self.source.read(at, stop))
        first, last = tail.find(b"\n"), tail.rfind(b"\n")
        if first < 0 or last <= first:
            return 0
        cut = self.follower.piece_end(self.follower.normalize(tail[first + 1 : last + 1]))
        return at + first + 1 + cut if cut > 0 else 0

    def _skip_long_line(self, end: int) -> None:
        """Skip the line at `offset` (longer than MAX_LINE) a block at a time."""
        at = self.offset
        while at < end:
            block = bytes(self.source.read(at, min(end, at + SCAN)))
            nl = block.find(b"\n")
            if nl >= 0:
                at += nl + 1
                break
            at += len(block)
        self.long_lines.append(self.line + 1)
        self.offset = at
        self.line += 1

    def finish(self, segments: list[Segment]) -> list[Segment]:
        """The launches (one Segment each, as put together) as the whole file states them:
        the follower's `finish`, where each launch lies when there are several, the lines
        skipped as too long."""
        starts = self.starts + self.tentative_starts
        bounds = [s.offset for s in starts[1:]] + [self.end]

        def reread(k: int, n: int) -> bytes:
            return bytes(self.source.read(max(starts[k].offset, bounds[k] - n), bounds[k]))

        state = self.follower.state()
        if self.seen_state is not None:
            self.follower.set_state(self.seen_state)
        try:
            out = self.follower.finish(segments, reread)
        finally:
            self.follower.set_state(state)
        lines = [s.line for s in starts] + [self.lines_end]
        for k, seg in enumerate(out):
            mine = [n for n in self.long_lines if lines[k] < n <= lines[k + 1]]
            if mine:
                seg = with_skipped_lines(seg, LONG_LINE, mine)
            if len(out) > 1:
                seg = replace(seg, launch=Launch(k + 1, len(out), lines[k] + 1, lines[k + 1]))
            out[k] = seg
        return out


def prepared_result(prepared: Future | None) -> Any:
    """What a follower's `prepare` found (the Future's result); None when there was none or it
    failed: the piece is then read from scratch, where the error is raised in its place."""
    if prepared is None:
        return None
    try:
        return prepared.result()
    except Exception:  # noqa: BLE001
        return None


BLOCK = 1 << 20  # bytes of a uint8 array looked at a time (no temporary the size of the file)


def count_lines(data: Any) -> int:
    """Newlines in bytes or a uint8 array (a block at a time, into one mask: no temporary the
    size of a piece, no fresh pages for each block's; numpy's compare and count beat
    `bytes.count` on a piece's megabytes)."""
    arr = np.frombuffer(data, np.uint8) if isinstance(data, (bytes, bytearray)) else np.asarray(data)
    mask = np.empty(min(BLOCK, len(arr)), bool)
    count = 0
    for k in range(0, len(arr), BLOCK):
        part = arr[k : k + BLOCK]
        count += int(np.count_nonzero(np.equal(part, 10, out=mask[: len(part)])))
    return count


def _last_newline(data: Any) -> int:
    if isinstance(data, (bytes, bytearray)):
        return data.rfind(b"\n")
    arr = np.asarray(data)
    for k in range(len(arr), 0, -BLOCK):
        hits = np.flatnonzero(arr[max(0, k - BLOCK) : k] == 10)
        if len(hits):
            return max(0, k - BLOCK) + int(hits[-1])
    return -1


def _has_newline(data: Any, a: int, b: int) -> bool:
    """A newline in data[a:b], looked for from `a`: the first 4 KiB usually answer."""
    if isinstance(data, (bytes, bytearray)):
        return data.find(b"\n", a, b) >= 0
    arr = np.asarray(data)
    step = 1 << 12
    while a < b:
        if (arr[a : min(b, a + step)] == 10).any():
            return True
        a, step = a + step, min(step * 8, BLOCK)
    return False


def _long_line(data: Any, reaches_end: bool) -> int:
    """Where the first line longer than MAX_LINE starts in `data` (0: at its start), -1 when
    there is none. Such a line covers a whole aligned block of MAX_LINE / 2 bytes, so only a
    block without a newline is looked at closely: a search that stops at each block's first
    newline touches a few bytes of the usual block."""
    if len(data) <= MAX_LINE:
        return -1
    block = MAX_LINE // 2
    for k in range(0, len(data) - block + 1, block):
        if _has_newline(data, k, k + block):
            continue
        start = _last_newline(data[:k]) + 1
        after = _last_newline(data[: min(len(data), start + MAX_LINE + 1)])
        if after < start and len(data) - start > MAX_LINE:  # no newline within MAX_LINE bytes
            return start
    return -1


def with_skipped_lines(seg: Segment, reason: str, lines: list[int]) -> Segment:
    """`seg` with `len(lines)` more lines not read for `reason`, the first few numbers kept."""
    kept = list(seg.skipped_lines.get(reason, ()))
    kept.extend(lines[: max(0, SKIPPED_LINES_KEPT - len(kept))])
    return replace(
        seg,
        skipped={**seg.skipped, reason: seg.skipped.get(reason, 0) + len(lines)},
        skipped_lines={**seg.skipped_lines, reason: tuple(kept)},
    )


def read_whole(source: Any, follower: Follower, piece: int = PIECE, array: bool = False) -> list[Segment]:
    """Every launch of a source read as it is (one Segment each): what a format's `read`
    gives, and `parsers.loader` for a file that is not followed."""
    reader = PieceReader(source, follower, piece, array)
    update = reader.read(source.size(), final=True)
    return reader.finish(gather(update.parts))


def gather(parts: list[tuple[int, Segment]]) -> list[Segment]:
    """(launch, piece) in order -> one Segment per launch."""
    by_launch: dict[int, list[Segment]] = {}
    for launch, seg in parts:
        by_launch.setdefault(launch, []).append(seg)
    return [concat_pieces(by_launch[k]) for k in sorted(by_launch)]
