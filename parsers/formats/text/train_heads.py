"""The numbers of mmcv train lines' heads (`<date>,<ms> - mmdet - INFO - Epoch [e][i/n]`):
whether the runner counts epochs, the counters (NaN where the head has none) and the line's
unix time, one array each."""

from __future__ import annotations

import numpy as np

from parsers.formats.text.clock import floats, timestamps


class Heads:
    def __init__(self, is_epoch, x, xn, y, yn, ts):
        self.is_epoch, self.x, self.xn, self.y, self.yn, self.ts = is_epoch, x, xn, y, yn, ts

    @classmethod
    def from_struct(cls, heads) -> Heads:
        """From the struct array `pc.extract_regex(…, MMCV_TRAIN_HEAD)` gives."""
        kind = np.asarray(heads.field("kind").to_numpy(zero_copy_only=False), dtype=object)
        x, xn, y, yn = (floats(heads.field(f)) for f in ("x", "xn", "y", "yn"))
        return cls(kind == "Epoch", x, xn, y, yn, timestamps(heads.field("date"), heads.field("ms"), "mmcv"))

    @classmethod
    def concat(cls, parts: list[Heads]) -> Heads:
        return cls(*(np.concatenate([getattr(p, f) for p in parts]) for f in _FIELDS))

    def subset(self, keep) -> Heads:
        return Heads(*(getattr(self, f)[keep] for f in _FIELDS))

    def __len__(self) -> int:
        return len(self.x)


_FIELDS = ("is_epoch", "x", "xn", "y", "yn", "ts")
EMPTY = Heads(np.zeros(0, bool), *(np.zeros(0) for _ in range(5)))
