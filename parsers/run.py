"""The Run: what every parser produces and everything downstream reads.

See ../shared/DESIGN.md ("The data model"). Frames are plain pandas DataFrames;
missing values are NaN, never 0.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Fixed leading columns of `Run.train`; every other logged key follows under its own name.
TRAIN_COLUMNS = [
    "run", "segment", "epoch", "iter", "iters_per_epoch", "step", "epoch_f", "samples",
    "wall_s", "lr", "eta_s", "time", "data_time", "memory", "grad_norm", "loss",
]
LAYERS_COLUMNS = ["run", "step", "epoch_f", "group", "term", "layer", "value"]
EVALS_COLUMNS = ["run", "epoch", "step", "metric", "value"]

# `meta` keys every parser fills (None when the log does not say).
META_KEYS = [
    "name", "sources", "format", "runner", "max_epochs", "max_iters", "iters_per_epoch",
    "iters_per_epoch_estimated", "config", "samples_per_gpu", "num_gpus", "total_batch",
    "optimizer", "lr", "weight_decay", "grad_clip", "lr_schedule", "fp16",
    "num_decoder_layers", "has_aux_loss", "segments", "skipped", "ended",
]


class ParseError(Exception):
    """Input that cannot be read as a training log. str() is one line naming file and line."""

    def __init__(self, path: str, message: str, line: int | None = None):
        self.path = str(path)
        self.line = line
        self.reason = message
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {message}")


@dataclass
class Run:
    """One training run: `meta` (dict) and the tidy frames `train`, `layers`, `evals`.

    Conventions (the parsers' modules document the details):
    - numbers are float64 (NaN = not logged; a logged `nan`/`inf` stays nan/inf), except
      `segment` and `layer` (int64); `run` and `metric` are `str`, the long `layers`
      frame's `run`/`group`/`term` are `category`.
    - meta["name"]: the work dir (`<wd>/<ts>.log`, `<wd>/<ts>/vis_data/scalars.json`),
      the wandb run dir, else the file name without suffixes and trailing timestamp.
    - meta["ended"]: "finished" | "stopped" | "traceback: <exception line>" | "unknown".
    - meta["skipped"]: {reason: count} of lines (or fields) not read; meta["skipped_lines"]
      gives the first `file:line` of each reason.
    - meta["segments"]: one dict per file of the run (resumes), in time order, with
      first/last step, `resumed_from` {epoch, iter} and `dropped_rows` (overlap).
    - extra["eval_strings"]: string-valued eval fields (`bbox_mAP_copypaste`), which are
      not metrics and stay out of `evals`.
    """

    meta: dict[str, Any]
    train: Any  # pandas.DataFrame, columns TRAIN_COLUMNS + logged keys
    layers: Any  # pandas.DataFrame, columns LAYERS_COLUMNS (see `_layers_property`)
    evals: Any  # pandas.DataFrame, columns EVALS_COLUMNS
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.meta["name"]


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
