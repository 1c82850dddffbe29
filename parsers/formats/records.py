"""A launch as a format module reads it, row by row, before it becomes a Segment.

The formats read here (DETR-style JSON lines, DETR's MetricLogger console, detectron2's
metrics.json and console log, TensorBoard event files) hold a few hundred to a few thousand
rows: they are read one record at a time into a `Draft`, and the Draft turns into the
column arrays a Segment holds in one step (`columns`).

Positions are stored as the log states them (`epoch` as logged, 0-based in DETR's logs);
the format module says how to read them (see `epoch_base`).
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

NAN = math.nan
MAX_SKIPPED_LINES = 5  # line numbers kept per reason


@dataclass
class EvalRow:
    metric: str
    value: float
    epoch: float = NAN  # the evaluation's epoch as the log states it
    after_row: int = -1  # index of the last train row of this launch logged before it (-1: none)
    step: float = NAN  # the step the log states for it (NaN: none)
    line: int | None = None


@dataclass
class Draft:
    """One launch: train rows, evaluation rows, facts, skipped lines counted by reason."""

    source: str
    format: str
    first_line: int = 1  # the launch's first line in its file (1-based)
    last_line: int = 0
    values: list = field(default_factory=list)  # one {key: float} per train row
    epoch: list = field(default_factory=list)
    iter: list = field(default_factory=list)  # within the epoch, or global for iteration logs
    n: list = field(default_factory=list)  # iterations in the epoch (`[i/n]`), NaN unknown
    step: list = field(default_factory=list)  # global iteration when the log states it
    ts: list = field(default_factory=list)  # unix seconds of the row, NaN unknown
    eta_s: list = field(default_factory=list)
    lines: list = field(default_factory=list)  # 1-based line (or record) number of each row
    evals: list = field(default_factory=list)  # EvalRow
    facts: dict = field(default_factory=dict)  # what the launch says about itself (args, plan, model)
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
        self.evals.append(EvalRow(metric, float(value), float(epoch), self.rows - 1, float(step), line))

    def skip(self, reason: str, line: int | None = None, count: int = 1) -> None:
        if count <= 0:
            return
        self.skipped[reason] += count
        if line is not None:
            seen = self.skipped_lines.setdefault(reason, [])
            if len(seen) < MAX_SKIPPED_LINES:
                seen.append(int(line))

    def columns(self):
        """(keys in first-seen order, values rows × keys float64, present rows × keys bool)."""
        import numpy as np

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
