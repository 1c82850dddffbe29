"""A text log read piece by piece (`parsers.follow`): its launches, its console label, the
year of its console lines, whatever the pieces.

Pieces end just before a record line (`piece_end`): records are one line, and a record ends
any message block, traceback or header before it, so no block is cut; the piece that holds
the header (environment, Config dump, model) grows until a record follows it. A log still
being written is read for good up to its last record line (`commit_end`); the lines after it
(a block, a traceback being written) are read again with what follows.

Launches: nohup.out and slurm-*.out often hold several launches appended to one file. A
launch begins where a runner logs its environment block (`sys.platform: …` after a logger
line, whatever the team's label) or its Config dump (with the header lines right above it),
when the launch being read has already logged a record or a block of that kind; output
before the first launch belongs to the first, a launch's traceback to that launch. Line
numbers count from the file's first line.

What only the whole file says:
- a console capture (a traceback or a progress bar's bare '\\r' anywhere, or a first line
  that is no logger line) is labelled `console`, all its launches (`finish`); a line cut at
  a terminal's 4095-byte limit is no record in a console capture, so a capture found late
  (after such a line was read as a record) is read again from its start (`Restart`);
- a console launch without a year on its lines (`parsers.formats.text.clock`) takes it from
  its own `Exp name` stamp (which mmengine logs after the first iterations: the launch is
  read again from its start once it is found), else from the nearest launch of the file
  whose year is known: the one before it as it begins, the one after it at the end
  (`pending`).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from parsers.follow import Part, Restart, prepared_result
from parsers.formats.text.clock import CONSOLE_DATE, EXP_NAME
from parsers.formats.text.dialect import TRACEBACK, bare_cr
from parsers.formats.text.reader import TRUNCATED_AT, error_message, read_text, scan_text
from parsers.patterns import ANY_PREFIX, DIALECTS, RECORD_LINE, RECORD_START, prefix
from parsers.run import ParseError
from parsers.segment import Segment, shift_lines
from parsers.tracebacks import TAIL_BYTES, tail_of

CUT_SEARCH = 1 << 20  # the last record line of a piece is looked for in its last MiB first
OFFSET_BLOCK = 1 << 20  # newlines are counted this many bytes at a time (`_line_starts`)
HEADER_LINES_BEFORE_CONFIG = 2  # mmcv's tools/train.py logs `Distributed training: …` there
_RECORD_AT = re.compile(rb"[^\n]{0,200}? - [A-Z]+ - " + RECORD_START.encode())
_RECORD_START = re.compile(RECORD_START.encode())
_ANY_RECORD = re.compile(rb"(?m)^[^\n]{0,200}? - [A-Z]+ - " + RECORD_START.encode())
_ERROR_LINE = re.compile(rb"(?m)^[^\n]{0,200}? - ERROR - [^\n]*")
_LOGGER = "(?:" + "|".join(prefix(d, ())[1:] for d in DIALECTS) + ")"
# a '\r' after a logger line: a line end (a progress bar's '\r' is a redraw, left as it is)
_CR_AFTER_LOGGER_LINE = re.compile(("(?:(?<=[\n\r])|\\A)(" + _LOGGER + "[^\n\r]*)\r(?!\n)").encode())


@dataclass
class _Launch:
    """What is known of one launch of the file."""

    index: int
    had_record: bool = False  # a train/val record was read
    has_env: bool = False  # an environment block was read
    has_config: bool = False  # a Config dump was read
    pieces: int = 0  # parts read
    first_date: str | None = None  # `MM/DD` of its first console line (mmengine console)
    start_date: str | None = None  # its first logger line's date, as read
    year: int | None = None
    year_from: str | None = None
    own_year: bool = False  # the year comes from its own `Exp name` stamp
    exp_seen: bool = False  # its first `Exp name` was looked at
    error: str | None = None  # the ERROR logged after its last record so far (an evaluation's cause)


@dataclass
class _State:
    console: bool | None = None  # the file is a console capture (None: not decided yet)
    suspect: bool = False  # a line of a terminal's limit was read before the capture was known
    launches: list[_Launch] = field(default_factory=list)


class TextFollower:
    """The pieces of one text log written in `dialect` (see the module docstring)."""

    def __init__(self, source: str, dialect: str, engine: str = "fast", chunk: int | None = None):
        self.source, self.dialect, self.engine, self.chunk = source, dialect, engine, chunk
        self.st = _State()
        self._snapshots: list[_State] = []  # the state as each launch began
        self._years: dict[int, tuple[int, str | None]] = {}  # launch -> (year, evidence), learnt
        self._console: bool | None = None  # learnt: the file is a console capture
        self._memo: tuple | None = None  # the last part read: (bytes, how, Segment)
        self._ready: tuple | None = None  # (bytes, what `prepare` found in them)

    # -- where pieces end --------------------------------------------------------------
    def normalize(self, data: bytes) -> bytes:
        """A lone '\r' after a logger line ends it (a file written with old Mac line ends, or
        mixed ones): read as '\n', so no record is overwritten by the next line."""
        return _CR_AFTER_LOGGER_LINE.sub(rb"\1\n", data) if b"\r" in data else data

    def piece_end(self, data: bytes) -> int:
        """At the start of the piece's last record line (0: it has none after its first line)."""
        return max(0, _last_record(data, from_first=False))

    def commit_end(self, data: bytes) -> int:
        """Up to the end of the last record line (0: no record line yet)."""
        start = _last_record(data, from_first=True)
        if start < 0:
            return 0
        nl = data.find(b"\n", start)
        return len(data) if nl < 0 else nl + 1

    # -- state -------------------------------------------------------------------------
    def state(self) -> Any:
        return copy.deepcopy(self.st)

    def set_state(self, state: Any) -> None:
        self.st = state

    def rewind(self, launch: int, facts: dict[str, Any]) -> None:
        if "console" in facts:
            self._console = bool(facts["console"])
        if "year" in facts:
            self._years[launch] = facts["year"]
        self.st = copy.deepcopy(self._snapshots[launch])
        del self._snapshots[launch + 1 :]

    # -- reading -----------------------------------------------------------------------
    def prepare(self, data: bytes) -> Callable[[], Any]:
        """What a piece read next holds, found from its bytes alone: its `scan_text` as it will
        most likely be read (console or not as the file is known to be so far; not a console
        capture while undecided), and whether it has a line of a terminal's limit."""
        console = self.dialect == "mmengine-console" or bool(
            self._console if self._console is not None else self.st.console
        )
        dialect, engine, chunk = self.dialect, self.engine, self.chunk
        return lambda: (console, scan_text(data, dialect, console, engine, chunk), _terminal_cut_line(data))

    def read(self, data: bytes, first_line: int, prepared: Future | None = None) -> list[Part]:
        data = bytes(data)
        self._ready = None if prepared is None else (data, prepared_result(prepared))
        st = self.st
        if not st.launches:
            self._begin()
        if self._console is not None:
            st.console = self._console
        launch = st.launches[-1]
        whole = self._parse(data, st.console, *self._year_args(launch))
        if st.console is None:  # the file's first piece decides, from its first line on
            st.console = self.dialect == "mmengine-console" or whole.format == "console"
            self._memo = (data, (st.console, *self._year_args(launch)), whole)  # what it was read as
        elif not st.console and (TRACEBACK in data or (b"\r" in data and bare_cr(data))):
            st.console = True  # the first sign of a terminal, in a later piece
            if st.suspect:
                raise Restart(0, {"console": True})
        if not st.console and not st.suspect and self._terminal_cut(data):
            st.suspect = True
        starts = self._launch_starts(data, whole)
        bounds = [0] + [s for s in starts if s > 0] + [len(data)]
        out = []
        line = first_line
        for k in range(len(bounds) - 1):
            a, b = bounds[k], bounds[k + 1]
            begins = k > 0 or 0 in starts
            if begins:
                self._begin()
            part = data if (a, b) == (0, len(data)) else data[a:b]
            out.append(Part(shift_lines(self._part(part), line), begins, a))
            if k < len(bounds) - 2:  # the next part's first line (the loader counts the piece's)
                line += part.count(b"\n")
        self._memo = self._ready = None  # the piece's bytes are not kept
        return out

    def _begin(self) -> None:
        st = self.st
        st.launches.append(_Launch(index=len(st.launches)))
        self._snapshots[len(st.launches) - 1 :] = [copy.deepcopy(st)]

    def _year_args(self, launch: _Launch) -> tuple[int | None, bool]:
        """(year, find it from the content) to read the next part of `launch` with."""
        learnt = self._years.get(launch.index)
        if learnt is not None:
            return learnt[0], False
        if self.dialect == "mmengine-console" and launch.pieces == 0:
            return None, True  # its own `Exp name`, if this part holds it
        return launch.year, False

    def _parse(self, data: bytes, console: bool | None, year: int | None, find_year: bool) -> Segment:
        """`read_text`, once per part and reading (the piece as a whole is often the part)."""
        if self.dialect == "mmengine-console":
            console = True
        args = (console, year, find_year)
        memo = self._memo
        if memo is not None and memo[0] is data and memo[1] == args:
            return memo[2]
        seg = read_text(
            self.source,
            data,
            self.dialect,
            console,
            self.engine,
            self.chunk,
            year,
            find_year,
            self._scanned(data, console),
        )
        self._memo = (data, args, seg)
        return seg

    def _scanned(self, data: bytes, console: bool | None):
        """The prepared scan of `data` when it was scanned as it is read now, else None."""
        ready = self._ready
        if ready is None or ready[0] is not data or ready[1] is None or console is None:
            return None
        was_console, scanned, _ = ready[1]
        return scanned if was_console == (console or self.dialect == "mmengine-console") else None

    def _terminal_cut(self, data: bytes) -> bool:
        ready = self._ready
        if ready is not None and ready[0] is data and ready[1] is not None:
            return ready[1][2]
        return _terminal_cut_line(data)

    def _part(self, data: bytes) -> Segment:
        """One launch's part, parsed (once), its facts noted."""
        launch = self.st.launches[-1]
        first = launch.pieces == 0
        year, find = self._year_args(launch)
        launch.pieces += 1
        seg = self._parse(data, self.st.console, year, find)
        if self.dialect != "mmengine-console":
            return self._noted(launch, seg, data)
        learnt = self._years.get(launch.index)
        if first:
            m = CONSOLE_DATE.search(data)
            launch.first_date = m.group("date")[:5].decode() if m else None
        if learnt is not None:
            launch.year, launch.year_from = learnt
            launch.own_year = launch.exp_seen = True
        elif first:
            launch.exp_seen = EXP_NAME.search(data) is not None
            if seg.year is not None:
                launch.year, launch.year_from, launch.own_year = seg.year, seg.year_from, True
            else:
                found = self._neighbour_year(launch, seg.start_date, before=False)
                if found is not None:
                    launch.year, launch.year_from = found
                    seg = self._parse(data, True, launch.year, False)
        elif not launch.exp_seen:
            self._own_stamp(launch, data)
        if launch.year is not None:
            seg = replace(seg, year_from=launch.year_from)
        return self._noted(launch, seg, data)

    def _own_stamp(self, launch: _Launch, data: bytes) -> None:
        """The launch's first `Exp name`, found in a later part: its year when the stamp's day
        is the launch's first day (as for a launch read whole), read again from its start."""
        m = EXP_NAME.search(data)
        if m is None:
            return
        launch.exp_seen = True
        stamp = m.group("stamp").decode()
        if launch.first_date is None or stamp[4:8] != launch.first_date.replace("/", ""):
            return
        year, evidence = int(stamp[:4]), f"Exp name timestamp {stamp}"
        if year != launch.year:
            raise Restart(launch.index, {"year": (year, evidence)})
        launch.own_year, launch.year_from = True, evidence  # the neighbour's year was this one

    def _neighbour_year(self, launch: _Launch, start_date: str | None, before: bool):
        """(year, evidence) of a console launch without a year of its own, from the nearest
        launch whose year is known (launches are appended in time order: that launch's year,
        one more (less) when the month/day went back (forward)); None when there is none."""
        others = self.st.launches[launch.index + 1 :] if before else self.st.launches[: launch.index]
        known = [x for x in others if x.year is not None and x.start_date]
        if not known or not start_date:
            return None
        ref = known[0] if before else known[-1]
        assert ref.year is not None and ref.start_date is not None
        mine, theirs = start_date[:5], ref.start_date[5:10]  # MM/DD
        year = ref.year - (mine > theirs) if before else ref.year + (mine < theirs)
        return year, f"launch {ref.index + 1} of this file ({ref.year}, {'after' if before else 'before'} it)"

    def _noted(self, launch: _Launch, seg: Segment, data: bytes) -> Segment:
        """The part's facts noted in `launch`; an evaluation that produced no metric first in
        the part takes the error logged at the end of the part before (a piece ends before a
        record: the error and its evaluation may lie in two)."""
        if seg.empty_evals and seg.empty_evals[0].error is None and launch.error and seg.empty_evals[0].line == 1:
            seg = replace(seg, empty_evals=(replace(seg.empty_evals[0], error=launch.error),) + seg.empty_evals[1:])
        last = _last_record(data, from_first=True)
        tail_errors = _ERROR_LINE.findall(data, max(0, last))
        if last >= 0 or tail_errors:
            last_error = tail_errors[-1].decode("utf-8", "replace") if tail_errors else None
            launch.error = error_message(last_error, self.dialect) if last_error else None
        if launch.start_date is None:
            launch.start_date = seg.start_date
        launch.had_record = launch.had_record or _has_records(seg)
        launch.has_env = launch.has_env or bool(seg.env_lines)
        launch.has_config = launch.has_config or bool(seg.config_lines)
        return seg

    def _launch_starts(self, data: bytes, seg: Segment) -> list[int]:
        """Byte offsets in `data` where a launch begins (see the module docstring)."""
        blocks = sorted([(n, "env") for n in seg.env_lines] + [(n, "config") for n in seg.config_lines])
        if not blocks:
            return []
        launch = self.st.launches[-1]
        had_record, has = launch.had_record, {"env": launch.has_env, "config": launch.has_config}
        offsets = _line_starts(data, sorted({line for line, _ in blocks}))
        starts: list[int] = []
        begun = 0  # where the launch being looked at began in `data`
        for line, kind in blocks:
            at = offsets[line]
            had_record = had_record or _has_record(data, begun, at)
            if had_record or has[kind]:
                start = at if kind == "env" else max(begun, _header_start(data, at))
                if start > begun or (start == 0 and not starts and launch.pieces):
                    starts.append(start)
                    begun, had_record, has = start, False, {"env": False, "config": False}
            has[kind] = True
        return starts

    # -- the whole file ----------------------------------------------------------------
    def finish(self, segments: list[Segment], reread: Any) -> list[Segment]:
        if not any(s.log_lines for s in segments):
            raise ParseError(self.source, "not a training log: no mmcv/mmengine log lines found")
        out = []
        for k, seg in enumerate(segments):
            label = "console" if self.st.console else seg.format
            out.append(replace(seg, format=label, tail=tuple(tail_of(reread(k, TAIL_BYTES + 1)))))
        return out

    def pending(self) -> Restart | None:
        """A console launch without a year before a launch whose year is known (the last such
        first: each takes the year of the nearest launch after it, as read)."""
        if self.dialect != "mmengine-console":
            return None
        for launch in reversed(self.st.launches):
            if launch.year is None and launch.index not in self._years:
                found = self._neighbour_year(launch, launch.start_date, before=True)
                if found is not None:
                    return Restart(launch.index, {"year": found})
        return None


def _has_records(seg: Segment) -> bool:
    v = seg.val_lines
    return bool(seg.rows or seg.eval_metric or seg.test_metrics or v.progress or v.results or v.empty)


def _has_record(data: bytes, a: int, b: int) -> bool:
    """A record line starts in data[a:b] (a: a line start)."""
    return _ANY_RECORD.search(data, a, b) is not None


def _last_record(data: bytes, from_first: bool) -> int:
    """The start of the last record line of `data` (-1: none); with `from_first`, the first
    line counts too."""
    for tail in (max(0, len(data) - CUT_SEARCH), 0):
        last = -1
        for m in RECORD_LINE.finditer(data, tail):
            last = m.start() + 1
        if last >= 0:
            return last
        if tail == 0:
            break
    return 0 if from_first and _RECORD_AT.match(data) else -1


def _line_starts(data: bytes, lines: list[int]) -> dict[int, int]:
    """{line: the byte offset where it starts} for the sorted 1-based `lines`. Newlines are
    counted block by block up to the last line asked for: the blocks that start launches
    usually lie in the first few KiB of a piece of many MB."""
    out: dict[int, int] = {}
    pos, line = 0, 1  # `pos` is where `line` starts
    for target in lines:
        while line < target:
            end = min(len(data), pos + OFFSET_BLOCK)
            n = data.count(b"\n", pos, end)
            if line + n < target and end < len(data):
                line, pos = line + n, end
                continue
            nl = np.flatnonzero(np.frombuffer(data, np.uint8, count=end - pos, offset=pos) == 10)
            pos, line = pos + int(nl[target - line - 1]) + 1, target
        out[target] = pos
    return out


def _header_start(data: bytes, pos: int) -> int:
    """Back from a Config dump over the few logger lines right above it that are header
    messages, not records (nor output of the launch before, which is not logger lines)."""
    for _ in range(HEADER_LINES_BEFORE_CONFIG):
        if pos == 0:
            break
        prev = data.rfind(b"\n", 0, pos - 1) + 1
        m = ANY_PREFIX.match(data, prev)
        if m is None or _RECORD_START.match(data, m.end()):
            break
        pos = prev
    return pos


def _terminal_cut_line(data: bytes) -> bool:
    """A line as long as a terminal's limit (a record cut there is no record in a capture).
    Such a line covers a whole aligned block of TRUNCATED_AT // 2 bytes, so only a block
    without a newline is looked at closely (the search in a usual block stops at its first
    newline, a few hundred bytes in)."""
    block = TRUNCATED_AT // 2
    k = 0
    while k + block <= len(data):
        if data.find(b"\n", k, k + block) >= 0:
            k += block
            continue
        start = data.rfind(b"\n", 0, k) + 1
        end = data.find(b"\n", k + block)
        end = len(data) if end < 0 else end
        if end - start in (TRUNCATED_AT, TRUNCATED_AT + 1):
            return True
        k = -(-(end + 1) // block) * block  # the first block the next line may cover whole
    return False
