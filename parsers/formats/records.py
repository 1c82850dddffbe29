"""Record by record: how the formats of DETR-family tools (DETR's log.txt and console,
detectron2's metrics.json and console, TensorBoard events) collect
one launch before it becomes a Segment.

These logs hold hundreds to a few thousand records, each with its own key set (a launch's
first row carries facts the others do not, an evaluation set appears in some rows only):
a reader appends one record at a time (`row`, `evaluation`), states what the launch says
about itself (`fields`: any Segment field, `args`, `resumes`, `traceback` …) and counts what
it does not read (`skip`); `segment()` builds the Segment's column arrays in one step,
through `parsers.segment.Draft`. Rows are read the same way whichever engine is asked for:
these modules have one implementation, used for both.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from parsers.segment import SKIPPED_LINES_KEPT, Draft, Launch, Segment

NAN = math.nan


@dataclass(slots=True)  # one per evaluation value: a DETR log.txt holds hundreds per row
class EvalRow:
    metric: str
    value: float
    epoch: float = NAN  # the evaluation's epoch, counted from 1 like the rows' (NaN: none)
    after_row: int = -1  # index of the last train row of the launch logged before it (-1: none)
    step: float = NAN  # the step the log states for it (NaN: none)
    line: int | None = None


@dataclass
class Records:
    """One launch being read (see the module docstring)."""

    source: str
    format: str
    first_line: int = 1  # the launch's first and last line (or record) in its file, 1-based
    last_line: int = 0
    values: list = field(default_factory=list)  # one {key: float} per train row
    epoch: list = field(default_factory=list)  # counted from 1 (a reader of a 0-based log adds 1)
    iter: list = field(default_factory=list)
    n: list = field(default_factory=list)
    step: list = field(default_factory=list)
    ts: list = field(default_factory=list)
    eta_s: list = field(default_factory=list)
    lines: list = field(default_factory=list)  # 1-based line of each row
    evals: list = field(default_factory=list)  # EvalRow
    fields: dict = field(default_factory=dict)  # Segment fields the launch states (args, seed, resumes …)
    skipped: Counter = field(default_factory=Counter)
    skipped_lines: dict = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return len(self.values)

    def row(self, values: dict, *, epoch=NAN, iter=NAN, n=NAN, step=NAN, ts=NAN, eta_s=NAN, line=None) -> None:
        self.values.append(values)
        self.epoch.append(float(epoch))
        self.iter.append(float(iter))
        self.n.append(float(n))
        self.step.append(float(step))
        self.ts.append(float(ts))
        self.eta_s.append(float(eta_s))
        self.lines.append(line)

    def evaluation(self, metric: str, value: float, *, epoch=NAN, step=NAN, line=None) -> None:
        """An evaluation value, after the last train row read so far."""
        self.evaluations([(metric, value)], epoch=epoch, step=step, line=line)

    def evaluations(self, values: list, *, epoch=NAN, step=NAN, line=None) -> None:
        """(metric, value) pairs of one place, in order, after the last train row read so far."""
        epoch, step, after = float(epoch), float(step), self.rows - 1
        self.evals.extend([EvalRow(metric, float(value), epoch, after, step, line) for metric, value in values])

    def skip(self, reason: str, line: int | None = None, count: int = 1) -> None:
        if count <= 0:
            return
        self.skipped[reason] += count
        if line is not None:
            seen = self.skipped_lines.setdefault(reason, [])
            if len(seen) < SKIPPED_LINES_KEPT:
                seen.append(int(line))

    def columns(self) -> tuple[list[str], np.ndarray, np.ndarray]:
        """(keys in first-seen order, values rows × keys float64, present rows × keys bool)."""
        keys: dict[str, int] = {}
        for row in self.values:
            for k in row:
                if k not in keys:
                    keys[k] = len(keys)
        values = np.full((self.rows, len(keys)), np.nan)
        present = np.zeros((self.rows, len(keys)), bool)
        for i, row in enumerate(self.values):
            for k, v in row.items():
                j = keys[k]
                values[i, j] = v
                present[i, j] = True
        return list(keys), values, present

    def segment(self, library: str, runner: str | None, index: int = 1, of: int = 1) -> Segment:
        """The frozen Segment of this launch, the `index`-th of `of` in its file."""
        draft = Draft(self.source, self.format, library, runner=runner)
        keys, values, present = self.columns()
        draft.keys, draft.values, draft.present = tuple(keys), values, present
        for name in ("epoch", "iter", "n", "step", "ts", "eta_s"):
            setattr(draft, name, np.asarray(getattr(self, name), dtype=float))
        draft.eval_epoch = tuple(e.epoch for e in self.evals)
        draft.eval_after_row = tuple(e.after_row for e in self.evals)
        draft.eval_step = tuple(e.step for e in self.evals)
        draft.eval_metric = tuple(e.metric for e in self.evals)
        draft.eval_value = tuple(e.value for e in self.evals)
        if of > 1:
            draft.launch = Launch(index, of, self.first_line, max(self.last_line, self.first_line))
        for name, value in self.fields.items():
            setattr(draft, name, value)
        for reason, count in self.skipped.items():
            draft.skip(reason, count, self.skipped_lines.get(reason, ()))
        return draft.freeze()


def text_of(content: list) -> str:
    """The content handed to a format's `read` (a one-item list: bytes or a uint8 array),
    taken out of the list and decoded (undecodable bytes replaced, never an error)."""
    data = content.pop()
    raw = data if isinstance(data, bytes) else np.asarray(data, dtype=np.uint8).tobytes()
    return raw.decode("utf-8", errors="replace")


def lines_of(text: str) -> list[str]:
    """The lines of a text without the empty one after its last newline."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def ending(launch: Records, lines: list[str]) -> None:
    """The launch's last lines (`tail`) and the exception of its last Python traceback
    (`traceback`), from the file's lines (console captures: how a launch ended)."""
    from parsers.tracebacks import TAIL_BYTES, last_traceback, tail_of

    mine = lines[launch.first_line - 1 : max(launch.last_line, launch.first_line)]
    tail = tail_of("\n".join(mine).encode("utf-8", errors="replace"), TAIL_BYTES)
    launch.fields["tail"] = tuple(tail)
    crash = last_traceback(tail)
    if crash is not None:
        launch.fields["traceback"] = crash.exception


def segments(launches: list[Records], library: str, runner: str | None, **fields: Any) -> list[Segment]:
    """The Segments of a file's launches, in file order (`fields` set on each)."""
    out = []
    for k, launch in enumerate(launches, 1):
        launch.fields = {**fields, **launch.fields}
        out.append(launch.segment(library, runner, k, len(launches)))
    return out
