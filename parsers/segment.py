"""What one log file yields before runs are stitched and derived columns computed.

Every format parser fills a `Segment`; `parsers.assemble` turns one or more segments
(a run and its resumes) into a `Run`.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Segment:
    source: str
    format: str  # mmcv-text | mmcv-json | mmengine-text | mmengine-json | console
    library: str  # mmcv | mmengine
    runner: str | None = None  # epoch | iter | None (unknown)
    # Train rows: per-row position columns, then the logged keys as a matrix.
    epoch: Any = None  # float64 array (NaN = not logged)
    iter: Any = None  # float64: within the epoch (epoch runner) or global (iter runner)
    n: Any = None  # float64: iters per epoch / max iters shown as `[i/n]`, NaN if absent
    step: Any = None  # float64: global iteration when the log states it (mmengine json)
    ts: Any = None  # float64: unix seconds of the line (text logs), NaN otherwise
    eta_s: Any = None  # float64
    keys: list = field(default_factory=list)  # logged key names, in first-seen order
    values: Any = None  # float64 matrix rows x keys
    present: Any = None  # bool matrix rows x keys: the row carried the key (value may be nan)
    # Evaluation rows (long): epoch (NaN for iter runners), the index of the last train
    # row logged before the evaluation (-1 if none), the step stated by the log (NaN if none).
    eval_epoch: list = field(default_factory=list)
    eval_after_row: list = field(default_factory=list)
    eval_step: list = field(default_factory=list)
    eval_metric: list = field(default_factory=list)
    eval_value: list = field(default_factory=list)
    test_metrics: dict = field(default_factory=dict)
    header: dict = field(default_factory=dict)  # facts read from the header / meta line
    skipped: Counter = field(default_factory=Counter)  # reason -> count
    skipped_lines: dict = field(default_factory=dict)  # reason -> first line numbers (1-based)

    @property
    def rows(self) -> int:
        return 0 if self.values is None else len(self.values)

    def skip(self, reason: str, count: int = 1, lines=()) -> None:
        if count <= 0:
            return
        self.skipped[reason] += int(count)
        if len(lines):
            seen = self.skipped_lines.setdefault(reason, [])
            seen.extend(int(x) for x in list(lines)[: max(0, 5 - len(seen))])

    def empty_train(self) -> None:
        z = np.zeros(0)
        self.epoch, self.iter, self.n, self.step, self.ts, self.eta_s = z, z, z, z, z, z
        self.keys, self.values, self.present = [], np.zeros((0, 0)), np.zeros((0, 0), bool)
