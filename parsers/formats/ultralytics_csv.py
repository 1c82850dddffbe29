"""ultralytics `results.csv` (YOLO, and RT-DETR trained with the `ultralytics` package):
recognised and refused with a line that says what it is.

Header `epoch,time,train/giou_loss,…,metrics/mAP50-95(B),val/giou_loss,…,lr/pg0,lr/pg1,lr/pg2`
(older versions pad every field with spaces). It holds one row per epoch of loss
*components* and no total loss — ultralytics logs none, and bevlog's diagnoses read the
loss: a run without one would be judged on a loss that is not there (an absent loss reads
as a non-finite one). Making one up from the components would put numbers in findings that
the log does not hold. So bevlog names the file and says so instead of guessing; the
refusal is one line and exit code 2, like any input bevlog cannot read.

A directory search does not look at `*.csv` files (the format row names none): only a
results.csv named on the command line is refused.
"""

from __future__ import annotations

from parsers.run import ParseError
from parsers.segment import Segment

TRAIN, EVAL_PREFIXES = "train/", ("metrics/", "val/")
REFUSED = (
    "an ultralytics results.csv (one row per epoch: loss components, metrics/mAP, lr/pg0-2): "
    "not read — it logs no total loss, which bevlog's diagnoses read"
)


def _header(head: bytes) -> list[str] | None:
    first = head.lstrip().split(b"\n", 1)[0].decode("utf-8", errors="replace")
    names = [c.strip() for c in first.split(",")]
    return names if names[:1] == ["epoch"] else None


def sniff(head: bytes) -> bool:
    names = _header(head)
    return (
        names is not None
        and any(n.startswith(TRAIN) for n in names)
        and any(n.startswith(EVAL_PREFIXES) for n in names)
    )


def read(source: str, content: list, engine: str = "fast", chunk: int | None = None) -> list[Segment]:
    content.pop()
    raise ParseError(source, REFUSED, 1)
