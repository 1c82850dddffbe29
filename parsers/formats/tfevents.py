"""TensorBoard event files (`events.out.tfevents.*`), read through TensorBoard's own
event-file loader: the optional extra `pip install 'bevlog[tensorboard]'`.

One file is one launch (every writer opens a new file). Scalars only: a summary value is a
`simple_value`, or a rank-0 tensor of the scalars plugin (what `data_compat` turns it into);
images, histograms and text are counted, not read.

- train tags -> one train row per step (steps as the writer logged them; the row's time is
  the wall time of its first event); `train/` prefixes are dropped and the names detectron2,
  mmengine and the HF Trainer use are mapped (`total_loss` -> `loss`, `learning_rate` -> `lr`);
  a tag named `epoch` (Lightning) is the row's epoch as logged, not a column, and
  `eta_seconds` (detectron2) the row's eta; a step with nothing else is counted, not a row;
- evaluation tags (`val/…`, `test/…`, `eval/…`, `metrics/…`, detectron2's `bbox/AP`, mmengine's
  `coco/…`) -> evaluation rows. Many writers log them on another step axis than the losses
  (iterations for losses, epochs for `Test/AP`): the wall time says which. An evaluation
  whose step lies at the train step reached at its wall time is on the iteration axis; one
  whose step does not is counted in epochs (its `epoch` is that step, its iteration unknown).
"""
from __future__ import annotations

import math
import struct

from parsers.detectron2_keys import is_eval_key
from parsers.draft import NAN, Draft

FORMAT = "tfevents"
EXTRA = "tensorboard"
MISSING_EXTRA = ("TensorBoard event file: reading it needs the optional extra "
                 f"(pip install 'bevlog[{EXTRA}]')")
FILE_VERSION = b"brain.Event:"
EVAL_WORDS = ("val", "valid", "validation", "test", "eval", "evaluation", "metrics", "coco", "voc", "pascal_voc")
TRAIN_PREFIXES = ("train/", "Train/", "training/")
RENAME = {"total_loss": "loss", "learning_rate": "lr", "max_mem": "memory", "train_loss": "loss"}
EPOCH_TAG = "epoch"
ETA_TAG = "eta_seconds"
ETA_ONLY = "step with nothing but `eta_seconds` (a launch's closing write)"
NON_SCALAR = "summary that is not a scalar (image, histogram, text …)"


class MissingExtra(ImportError):
    """The tensorboard package is not installed."""


def sniff(head: bytes) -> bool:
    """A TFRecord whose first record is an Event holding `file_version` ("brain.Event:2"):
    8-byte length, 4-byte CRC, then the record, which starts with the wall time (field 1,
    a double: tag byte 0x09)."""
    if len(head) < 12 + 9:
        return False
    (length,) = struct.unpack("<Q", head[:8])
    if not 9 <= length <= 4096:
        return False
    record = head[12:12 + length]
    return record[:1] == b"\x09" and FILE_VERSION in record


def loader():
    """TensorBoard's EventFileLoader class (MissingExtra when tensorboard is not installed)."""
    try:
        from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
    except ImportError as e:  # the optional extra
        raise MissingExtra(MISSING_EXTRA) from e
    return EventFileLoader


def scalars(path: str, d: Draft):
    """[(step, wall_time, tag, value)] of a file's scalar summaries, in file order."""
    from tensorboard.util import tensor_util

    out = []
    for event in loader()(path).Load():
        if event.WhichOneof("what") != "summary":
            continue
        for v in event.summary.value:
            kind = v.WhichOneof("value")
            value = None
            if kind == "simple_value":
                value = float(v.simple_value)
            elif kind == "tensor" and (not v.metadata.plugin_data.plugin_name
                                       or v.metadata.plugin_data.plugin_name == "scalars"):
                arr = tensor_util.make_ndarray(v.tensor)
                if arr.ndim == 0 and arr.dtype.kind in "fiu":
                    value = float(arr)
            if value is None:
                d.skip(NON_SCALAR)
                continue
            out.append((int(event.step), float(event.wall_time), v.tag, value))
    return out


def is_eval_tag(tag: str) -> bool:
    head, sep, _ = tag.partition("/")
    return (bool(sep) and head.lower() in EVAL_WORDS) or is_eval_key(tag) or tag.lower().startswith(("val_", "test_", "eval_"))


def train_name(tag: str) -> str:
    for p in TRAIN_PREFIXES:
        if tag.startswith(p):
            tag = tag[len(p):]
            break
    return RENAME.get(tag, tag)


def read_draft(path: str, source: str) -> Draft:
    d = Draft(source, FORMAT)
    points = scalars(path, d)
    train = [p for p in points if not is_eval_tag(p[2])]
    evals = [p for p in points if is_eval_tag(p[2])]
    by_step: dict[int, dict] = {}
    first_wall: dict[int, float] = {}
    epoch_at: dict[int, float] = {}
    for step, wall, tag, value in train:
        if tag == EPOCH_TAG:
            epoch_at[step] = value
            continue
        by_step.setdefault(step, {})[train_name(tag)] = value
        first_wall[step] = min(first_wall.get(step, math.inf), wall)
    for step in sorted(by_step):
        values = by_step[step]
        eta = values.pop(ETA_TAG, NAN)
        if not values:
            d.skip(ETA_ONLY)  # detectron2's closing write: the eta of an iteration never run
            continue
        d.row(values, iter=step, step=step, ts=first_wall[step], epoch=epoch_at.get(step, NAN), eta_s=eta)
    _evaluations(d, evals)
    return d


def _evaluations(d: Draft, evals) -> None:
    import numpy as np

    steps = np.asarray(d.step, float)
    walls = np.asarray(d.ts, float)
    order = np.argsort(walls, kind="stable")
    for step, wall, tag, value in sorted(evals, key=lambda p: (p[1], p[0])):
        k = int(np.searchsorted(walls[order], wall, side="right")) - 1
        after = int(order[k]) if k >= 0 else -1
        on_iters = after < 0 and not len(steps) or (after >= 0 and steps[after] <= step and (
            after + 1 >= len(steps) or step <= steps[after + 1]))
        if on_iters:
            d.evaluation(tag, value, step=step)
        else:
            d.facts["eval_axis"] = "epoch"
            d.evaluation(tag, value, epoch=step)
        d.evals[-1].after_row = after
