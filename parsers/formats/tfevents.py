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
  whose step does not is on another axis (epochs): it is placed at the train step reached
  at its wall time, and its own step is kept as its epoch.
"""

from __future__ import annotations

import math
import os
import struct
import tempfile

from parsers.formats.detectron2_keys import is_eval_key
from parsers.formats.records import NAN, Records, segments
from parsers.run import ParseError
from parsers.segment import Segment

FORMAT = "tfevents"
LIBRARY = "tensorboard"
EXTRA = "tensorboard"
MISSING_EXTRA = f"a TensorBoard event file: reading it needs the optional extra (pip install 'bevlog[{EXTRA}]')"
FILE_VERSION = b"brain.Event:"
EVAL_WORDS = ("val", "valid", "validation", "test", "eval", "evaluation", "metrics", "coco", "voc", "pascal_voc")
TRAIN_PREFIXES = ("train/", "Train/", "training/")
RENAME = {"total_loss": "loss", "learning_rate": "lr", "max_mem": "memory", "train_loss": "loss"}
EPOCH_TAG = "epoch"
ETA_TAG = "eta_seconds"
ETA_ONLY = "step with nothing but `eta_seconds` (a launch's closing write)"
NON_SCALAR = "summary that is not a scalar (image, histogram, text …)"


def sniff(head: bytes) -> bool:
    """A TFRecord whose first record is an Event holding `file_version` ("brain.Event:2"):
    8-byte length, 4-byte CRC, then the record, which starts with the wall time (field 1,
    a double: tag byte 0x09)."""
    if len(head) < 12 + 9:
        return False
    (length,) = struct.unpack("<Q", head[:8])
    if not 9 <= length <= 4096:
        return False
    record = head[12 : 12 + length]
    return record[:1] == b"\x09" and FILE_VERSION in record


def read(source: str, content: list, engine: str = "fast", chunk: int | None = None) -> list[Segment]:
    """The file's one launch (one implementation for both engines; `chunk` is not used).
    TensorBoard's loader reads files: the file itself when `source` is it, else (stdin, a
    .gz) the content written to a temporary file."""
    data = content.pop()
    try:
        from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
        from tensorboard.util import tensor_util
    except ImportError:  # the optional extra is not installed
        raise ParseError(source, MISSING_EXTRA) from None
    if os.path.isfile(source) and os.path.getsize(source) == len(data):
        d = read_records(source, source, EventFileLoader, tensor_util)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "events.out.tfevents")
            with open(path, "wb") as f:
                f.write(data if isinstance(data, bytes) else bytes(memoryview(data)))
            d = read_records(path, source, EventFileLoader, tensor_util)
    if not d.rows and not d.evals:
        raise ParseError(source, "a TensorBoard event file without scalars")
    return segments([d], LIBRARY, "iter")


def scalars(path: str, d: Records, loader, tensor_util):
    """[(step, wall_time, tag, value)] of a file's scalar summaries, in file order."""
    out = []
    try:
        events = list(loader(path).Load())
    except Exception as e:  # a damaged record: TensorBoard's reader raises its own errors
        raise ParseError(d.source, f"a damaged TensorBoard event record ({type(e).__name__})") from None
    for event in events:
        if event.WhichOneof("what") != "summary":
            continue
        for v in event.summary.value:
            kind = v.WhichOneof("value")
            value = None
            if kind == "simple_value":
                value = float(v.simple_value)
            elif kind == "tensor" and (
                not v.metadata.plugin_data.plugin_name or v.metadata.plugin_data.plugin_name == "scalars"
            ):
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
    return (
        (bool(sep) and head.lower() in EVAL_WORDS)
        or is_eval_key(tag)
        or tag.lower().startswith(("val_", "test_", "eval_"))
    )


def train_name(tag: str) -> str:
    for p in TRAIN_PREFIXES:
        if tag.startswith(p):
            tag = tag[len(p) :]
            break
    return RENAME.get(tag, tag)


def read_records(path: str, source: str, loader, tensor_util) -> Records:
    d = Records(source, FORMAT)
    points = scalars(path, d, loader, tensor_util)
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


def _evaluations(d: Records, evals) -> None:
    import numpy as np

    steps = np.asarray(d.step, float)
    walls = np.asarray(d.ts, float)
    order = np.argsort(walls, kind="stable")
    for step, wall, tag, value in sorted(evals, key=lambda p: (p[1], p[0])):
        k = int(np.searchsorted(walls[order], wall, side="right")) - 1
        after = int(order[k]) if k >= 0 else -1
        on_iters = (
            after < 0
            and not len(steps)
            or (after >= 0 and steps[after] <= step and (after + 1 >= len(steps) or step <= steps[after + 1]))
        )
        if on_iters:
            d.evaluation(tag, value, step=step)
        else:
            d.evaluation(tag, value, epoch=step)  # on another axis: placed by its wall time
        d.evals[-1].after_row = after
