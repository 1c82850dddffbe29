"""The Run: what every parser produces and everything downstream reads.

See docs/architecture.md (the road from a path to a finding). Frames are plain pandas DataFrames;
missing values are NaN, never 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from parsers.meta import (  # noqa: F401
    META_KEYS,
    EmptyEvaluation,
    LrSchedule,
    Meta,
    ResumePoint,
    SegmentInfo,
    Segments,
)

# Fixed leading columns of `Run.train`; every other logged key follows under its own name.
TRAIN_COLUMNS = [
    "run",
    "segment",
    "epoch",
    "iter",
    "iters_per_epoch",
    "step",
    "epoch_f",
    "samples",
    "wall_s",
    "lr",
    "eta_s",
    "time",
    "data_time",
    "memory",
    "grad_norm",
    "loss",
]
LAYERS_COLUMNS = ["run", "step", "epoch_f", "group", "term", "layer", "value"]
EVALS_COLUMNS = ["run", "epoch", "step", "metric", "value", "segment"]


REFUSED = "too large / not a log"  # how every reason to refuse an input for good begins


class ParseError(Exception):
    """Input that cannot be read as a training log. str() is one line naming file and line."""

    def __init__(self, path: str, message: str, line: int | None = None):
        self.path = str(path)
        self.line = line
        self.reason = message
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {message}")

    @property
    def refused(self) -> bool:
        """The input is refused for good (too large, a device, binary zeros): reading it
        again will not help, unlike a log not written yet."""
        return self.reason.startswith(REFUSED)

    def __reduce__(self):
        # problems cross the worker pool's process boundary: rebuild from the fields, not
        # from `args` (which hold only the formatted line)
        return (type(self), (self.path, self.reason, self.line))


@dataclass(eq=False)  # identity equality: a Run is hashable (weakref-keyed caches of the rules)
class Run:
    """One training run: `meta` (a frozen `Meta`) and the tidy frames `train`, `layers`, `evals`.

    Conventions (the parsers' modules document the details):
    - numbers are float64 (NaN = not logged; a logged `nan`/`inf` stays nan/inf), except
      `segment` and `layer` (int64); `run` and `metric` are `str`, the long `layers`
      frame's `run`/`group`/`term` are `category`.
    - `evals`: every evaluation the logs hold, never de-duplicated: a launch that evaluates
      an epoch again (a resume) is a second evaluation; `segment` says which launch ran it.
    - `meta`: every field is declared, with its meaning, in `parsers.meta.Meta`.
    - `train.segment`: index of the file (launch) a row comes from, in time order
      (`meta.segments[k]`); `segment_starts(train)` marks the first row of each resume.
    - `eval_strings`: string-valued eval fields (`bbox_mAP_copypaste`), dicts of epoch,
      step, metric, value; not metrics, so they stay out of `evals`.
    - `superseded`: rows a later launch re-ran after a resume from an earlier checkpoint
      (the columns of `train` plus `superseded_by`, the segment that replaced them). Not
      part of the curve; evidence of what the earlier attempt did (it may have gone NaN).
    """

    meta: Meta
    train: Any  # pandas.DataFrame, columns TRAIN_COLUMNS + logged keys
    layers: Any  # pandas.DataFrame, columns LAYERS_COLUMNS (see `_layers_property`)
    evals: Any  # pandas.DataFrame, columns EVALS_COLUMNS
    eval_strings: tuple = ()
    superseded: Any = None  # pandas.DataFrame, columns of `train` + `superseded_by`

    @property
    def name(self) -> str:
        return self.meta.name


def segment_starts(train):
    """numpy bool array, one per row of `train` (a `Run.train`, or rows of it in their
    order): True on the first row of each segment after the first, where a resumed launch
    takes over. The lr may restart there (a schedule re-run from its checkpoint): a jump
    across such a row is the resume, not the schedule."""
    import numpy as np

    if train is None or not len(train) or "segment" not in train:
        return np.zeros(0 if train is None else len(train), bool)
    seg = np.asarray(train["segment"])
    out = np.zeros(len(seg), bool)
    out[1:] = seg[1:] != seg[:-1]
    return out


def _layers_property():
    """`Run.layers` is built on first access and cached: it is long (rows x decoder-layer
    losses, millions of rows for a big log) and only the layer rules and report panel read
    it. The parser passes a picklable builder (`parsers.layers.LazyLayers`) instead of the
    frame; a Run pickled before the first access (runs cross process pools) carries the
    builder, which refers to the same `train` frame (pickled once), and builds the frame
    where it is read."""

    def get(self):
        value = self.__dict__["_layers"]
        if callable(value) and not hasattr(value, "columns"):
            value = self.__dict__["_layers"] = value()
        return value

    def set(self, value):
        self.__dict__["_layers"] = value

    return property(get, set, doc="pandas.DataFrame, columns LAYERS_COLUMNS (built on first access)")


Run.layers = _layers_property()  # after @dataclass: its __init__ assigns through the property
