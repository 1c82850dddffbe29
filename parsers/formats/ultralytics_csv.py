"""ultralytics `results.csv` (YOLO, and RT-DETR trained with the `ultralytics` package): one
train row per epoch, read into one Segment.

Header `epoch,time,train/giou_loss,…,metrics/mAP50-95(B),val/giou_loss,…,lr/pg0,lr/pg1,lr/pg2`
(older versions pad every field with spaces, which are stripped). What becomes what:
- `epoch` -> the row's epoch and step, as the file counts them (from 1; a file that starts
  at 0 keeps it in `Segment.epoch_base`). A row sums up its whole epoch (`Segment.epoch_rows`):
  the file gives no iterations, and steps count epochs.
- `train/<term>` -> train column `<term>` (`giou_loss`, `cls_loss`, `box_loss` …): loss
  *components*. ultralytics logs no total loss and none is made up from the components: the
  total is absent (`Signals.loss_logged`), the rules that read it say nothing, and
  log-integrity says the log has only terms.
- `lr/pg0` -> `lr`: parameter group 0's lr (ultralytics' group of weights with decay; pg1
  holds the weights without decay, pg2 the biases, which warm up from their own higher lr)
  — the lr of every group once warm-up is over, but not a value the run's config states.
  `lr/pg1`, `lr/pg2` stay columns under their logged names.
- `time` (seconds since the training started, cumulative) -> the row's time (`ts`), as the
  other epoch-row readers keep the end of an epoch; it is no date, so the launch states none
  (`year_unknown`: its clock counts from a stand-in origin).
- `metrics/<name>` and `val/<name>` -> evaluation values of the row's epoch under their
  logged names (`metrics/mAP50-95(B)` is the headline, bevlog.evaluations).

A row whose field count differs from the header's, that holds a field that is no number, or
whose epoch is no count, is a skipped, counted line; a file with no readable row is a
ParseError naming file and line. Columns past the first MAX_KEYS are counted, not read.

A directory search does not look at `*.csv` files (the format row names none): a results.csv
is read when it is named on the command line (see docs/architecture.md for why).
"""

from __future__ import annotations

import math

from parsers.bounds import KEYS_PAST_BOUND, MAX_COUNT, kept_keys
from parsers.formats.records import NAN, Records, lines_of, segments, text_of
from parsers.run import ParseError
from parsers.segment import Segment

FORMAT = "ultralytics-csv"
LIBRARY = "ultralytics"
TRAIN, EVAL_PREFIXES = "train/", ("metrics/", "val/")
EPOCH, TIME, LR_GROUP0 = "epoch", "time", "lr/pg0"
LR_PREFIX = "lr/"
FIELD_COUNT = "row whose field count is not the header's"
NOT_A_NUMBER = "row with a field that is not a number"
NO_COUNT = "row whose epoch is no count"
BAD_TIME = "`time` that is no count of seconds (the row is read without it)"
OTHER_COLUMN = "column of no train/, metrics/, val/ or lr/ group (not read)"


def _header(head: bytes) -> list[str] | None:
    first = head.lstrip().split(b"\n", 1)[0].decode("utf-8", errors="replace")
    names = [c.strip() for c in first.split(",")]
    return names if names[:1] == [EPOCH] else None


def sniff(head: bytes) -> bool:
    names = _header(head)
    return (
        names is not None
        and any(n.startswith(TRAIN) for n in names)
        and any(n.startswith(EVAL_PREFIXES) for n in names)
    )


def read(source: str, content: list, engine: str = "fast", chunk: int | None = None) -> list[Segment]:
    """One Segment (one implementation for both engines; `chunk` is not used: a results.csv
    holds one short row per epoch)."""
    d = read_records(source, text_of(content))
    if not d.rows:
        where = min((n for ls in d.skipped_lines.values() for n in ls), default=d.first_line)
        raise ParseError(source, "no readable ultralytics results.csv row", where)
    return segments([d], LIBRARY, "epoch", epoch_rows=True, year_unknown=True)


def read_records(source: str, text: str) -> Records:
    """The rows of a results.csv (its header: the first line that is not blank)."""
    lines = lines_of(text)
    header_no = next((no for no, line in enumerate(lines, 1) if line.strip()), 1)
    d = Records(source, FORMAT, first_line=header_no, last_line=header_no)
    if header_no > len(lines):
        return d
    names = [c.strip() for c in lines[header_no - 1].rstrip("\r").split(",")]
    kept = set(kept_keys(names))
    base = None  # the first row's epoch: 1, or 0 in a file that counts from 0
    for no in range(header_no + 1, len(lines) + 1):
        line = lines[no - 1].rstrip("\r")
        if not line.strip():
            continue
        base = _read_row(d, names, kept, line.split(","), no, base)
        d.last_line = no
    if base == 0:
        d.fields["epoch_base"] = 0
    return d


def _read_row(d: Records, names: list[str], kept: set, fields: list[str], line: int, base: int | None) -> int | None:
    """Read one row; returns the file's first epoch (`base`), set by its first read row."""
    if len(fields) != len(names):
        d.skip(FIELD_COUNT, line)
        return base
    try:
        values = [float(f.strip()) for f in fields]
    except ValueError:
        d.skip(NOT_A_NUMBER, line)
        return base
    row = dict(zip(names, values))
    epoch = _count(row.get(EPOCH, NAN))
    if epoch is None:
        d.skip(NO_COUNT, line)
        return base
    if base is None:
        base = min(epoch, 1)
    at = epoch + 1 - base  # counted from 1 (Segment.epoch_base keeps a file's 0)
    ts = row.get(TIME, NAN)
    if TIME in row and not (math.isfinite(ts) and 0 <= ts <= MAX_COUNT):
        d.skip(BAD_TIME, line)
        ts = NAN
    train: dict[str, float] = {}
    evals: list[tuple[str, float]] = []
    for name, v in row.items():
        if name in (EPOCH, TIME):
            continue
        if name not in kept:
            d.skip(KEYS_PAST_BOUND, line)
        elif name.startswith(TRAIN):
            train[name[len(TRAIN) :]] = v
        elif name == LR_GROUP0:
            train["lr"] = v
        elif name.startswith(LR_PREFIX):
            train[name] = v
        elif name.startswith(EVAL_PREFIXES):
            evals.append((name, v))
        else:
            d.skip(OTHER_COLUMN, line)
    d.row(train, epoch=at, step=at, ts=ts, line=line)
    for metric, v in evals:  # after their epoch's train row
        d.evaluation(metric, v, epoch=at, line=line)
    return base


def _count(v: float) -> int | None:
    if not math.isfinite(v) or v != int(v) or not 0 <= v <= MAX_COUNT:
        return None
    return int(v)
