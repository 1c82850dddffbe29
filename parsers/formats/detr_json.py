"""DETR-style `log.txt`: one JSON object per epoch (facebookresearch/detr `main.py` and its
descendants: Deformable-DETR, Conditional-DETR, DAB/DN-DETR, DINO, RT-DETR, RF-DETR …).

A row is what `main.py` writes after each epoch: `train_*` (the epoch's averages of the
train MetricLogger), one block per evaluated model (`test_*`; `ema_test_*` for an EMA
model; `val_*` in some forks), `epoch` (counted from 0) and `n_parameters`. What becomes what:
- `train_<key>` -> train column `<key>` (`train_lr` -> `lr`, param group 0, which in RT-DETR
  configs is the backbone's; `train_loss` -> `loss`). Weighted loss terms and their
  `_unscaled` copies stay apart: only the weighted ones are decoder-layer losses
  (parsers.layers), the `_unscaled` ones are plain columns. A duration printed as text
  (`"train_epoch_time": "0:02:13"`) becomes seconds.
- `<set>_coco_eval_bbox` (pycocotools' 12 stats) -> evaluation metrics AP, AP50 … ARl
  (parsers.formats.coco); `-1.0` (no object of that size) is no row, counted. `_coco_eval_masks`
  gives `segm/AP` …. The main set is `test_` (else `val_`) and is unprefixed; another set is
  prefixed by its name (`ema/AP` for `ema_test_`, `val/AP` beside a `test_` set).
- every other numeric key of an evaluation set -> an evaluation metric under its logged name
  (`test_loss`, `ema_test_class_error`).
- `epoch` (counted from 0: the frames count from 1, `Segment.epoch_base` keeps the log's
  0) and `n_parameters` (`n_params`) place rows and tell launches apart; RF-DETR's `now_time`
  (the wall clock at the end of the epoch) is the row's time. Facts bevlog does not use
  (RT-DETR's `train_batch_size`, `total_parameters`, `model_type` …) are counted.
- a row sums up its whole epoch (`Segment.epoch_rows`): the log gives no iterations, so
  its steps count epochs. DINO writes its arguments beside log.txt
  (`config_args_all.json`): they are read as the run's arguments (`Segment.args`).
- anything else (running bests such as `all_best_res`, whole-epoch `epoch_time`, a string
  where a number belongs, a list that is no COCO list) is counted by reason, never silently
  dropped.

Launches: several trainings appended to one file are told apart by `epoch` not following
the previous row (it goes back, or jumps forward to a resumed epoch) or `n_parameters`
changing (another model). A launch whose first epoch is above 0 resumed from a checkpoint
after that many epochs.
"""

from __future__ import annotations

import datetime as _dt
import functools
import json
import math
import os
import re

from parsers.bounds import MAX_COUNT
from parsers.formats.coco import NO_OBJECTS_REASON, stats_metrics
from parsers.formats.durations import duration_seconds
from parsers.formats.jsonl import first_line
from parsers.formats.records import NAN, Records, lines_of, segments, text_of
from parsers.io import STDIN_NAME
from parsers.run import ParseError
from parsers.segment import Resume, Segment

FORMAT = "detr-json"
LIBRARY = "detr"
EPOCH_BASE = 0  # DETR counts epochs from 0: its epoch e is the (e+1)-th
ARGS_BESIDE = ("config_args_all.json", "config_args_raw.json")  # DINO writes its arguments there
ARGS_BYTES = 1 << 20
TRAIN = "train_"
# evaluation sets, most primary first: the first one present in a row is unprefixed
EVAL_SETS = ("test_", "val_", "ema_test_", "ema_val_")
SET_LABEL = {"test_": "test", "val_": "val", "ema_test_": "ema", "ema_val_": "ema_val"}
COCO_LISTS = {"coco_eval_bbox": "", "coco_eval_masks": "segm/"}
PARAMETER_KEYS = ("n_parameters", "n_params")
INT_FACTS = ("total_parameters", "trainable_parameters", "train_batch_size", "val_batch_size")
STRING_FACTS = ("model_type", "backbone", "encoder", "decoder")
CLOCK_KEY = "now_time"
MARKERS = ("epoch", "n_parameters", "n_params")
FACT_NOT_USED = "field that states a fact bevlog does not use (train_batch_size, model_type …)"
FIRST_LINE_BYTES = 1 << 20


def sniff(head: bytes) -> bool:
    """The first line is a JSON object with `train_` keys and an `epoch` or `n_parameters`,
    and none of mmcv's `mode` / mmengine's `step`."""
    row = first_object(head)
    if row is None or "mode" in row or "step" in row:
        return False
    return any(k.startswith(TRAIN) for k in row) and any(k in row for k in MARKERS)


def first_object(head: bytes) -> dict | None:
    """The first line of a JSON-lines head as a dict, None when it is no JSON object."""
    first = first_line(head)
    if first is None or len(first) > FIRST_LINE_BYTES:
        return None
    try:
        row = json.loads(first)
    except (ValueError, RecursionError):
        return None
    return row if isinstance(row, dict) else None


def read(source: str, content: list, engine: str = "fast", chunk: int | None = None) -> list[Segment]:
    """One Segment per launch (one implementation for both engines; `chunk` is not used:
    these files are a few MB at most)."""
    launches = read_records(source, text_of(content))
    if not any(d.rows for d in launches):
        where = min((n for d in launches for ls in d.skipped_lines.values() for n in ls), default=1)
        raise ParseError(source, "no readable DETR log.txt rows", where)
    args = _args_beside(source)
    return segments(launches, LIBRARY, "epoch", epoch_base=EPOCH_BASE, epoch_rows=True, args=args)


def _args_beside(source: str) -> dict | None:
    """DINO (and its descendants) write their arguments beside log.txt as JSON: read them
    as the run's arguments (json, never executed)."""
    if source == STDIN_NAME:
        return None
    folder = os.path.dirname(os.path.abspath(source))
    for name in ARGS_BESIDE:
        path = os.path.join(folder, name)
        try:
            with open(path, "rb") as f:
                data = f.read(ARGS_BYTES + 1)
        except OSError:
            continue
        if len(data) > ARGS_BYTES:
            return None
        try:
            args = json.loads(data)
        except (ValueError, RecursionError):
            return None
        return args if isinstance(args, dict) else None
    return None


def read_records(source: str, text: str) -> list[Records]:
    """The launches of a DETR-style log.txt, in file order (at least one)."""
    launches: list[Records] = []
    cur: Records | None = None
    prev_epoch = None
    prev_params = None
    for no, line in enumerate(lines_of(text), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except (ValueError, RecursionError):
            (cur or _new(launches, source, no)).skip("line that is not a JSON object", no)
            continue
        if not isinstance(row, dict):
            (cur or _new(launches, source, no)).skip("line that is not a JSON object", no)
            continue
        epoch = _count(row.get("epoch"))
        params = next((_count(row[k]) for k in PARAMETER_KEYS if k in row), None)
        new_launch = (epoch is not None and prev_epoch is not None and epoch != prev_epoch + 1) or (
            params is not None and prev_params is not None and params != prev_params
        )
        if cur is None or new_launch:
            cur = _new(launches, source, no)
            prev_params = None
        if epoch is None:
            epoch = prev_epoch + 1 if prev_epoch is not None else 0
            cur.skip("row without `epoch`: numbered after the previous row", no)
        _read_row(cur, row, epoch, no)
        cur.last_line = no
        prev_epoch, prev_params = epoch, params if params is not None else prev_params
    if not launches:
        _new(launches, source, 1)
    for d in launches:
        done = d.epoch[0] - 1 if d.rows else NAN  # epochs done before the launch's first row
        if done == done and done > 0:
            # a resume: its first epoch follows a checkpoint of `done` epochs; the log gives
            # no iterations, and steps count epochs (Segment.epoch_rows)
            d.fields["resumes"] = (Resume(line=d.first_line, date=None, epoch=int(done), iter=int(done)),)
        if d.rows and d.ts[0] == d.ts[0]:
            d.fields["start_date"] = _dt.datetime.fromtimestamp(d.ts[0], _dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    return launches


def _new(launches: list, source: str, line: int) -> Records:
    d = Records(source, FORMAT, first_line=line, last_line=line)
    launches.append(d)
    return d


def _count(v) -> int | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        return None
    if v != int(v) or not 0 <= v <= MAX_COUNT:
        return None
    return int(v)


def _read_row(d: Records, row: dict, epoch: int, line: int) -> None:
    """One JSON row: its train values, evaluation values and facts (`epoch` as logged, from 0)."""
    train: dict[str, float] = {}
    evals: list[tuple[str, float]] = []
    ts = NAN
    primary, plan = _plan_of(tuple(row))
    for (kind, name, eval_set), value in zip(plan, row.values()):
        if kind == _EVAL:
            if type(value) is float or type(value) is int:  # not bool (its own type): the usual value
                evals.append((name, float(value)))
            else:
                _eval_value(d, evals, eval_set, primary, name[len(eval_set) :], value, line)
        elif kind == _TRAIN:
            if type(value) is float or type(value) is int:
                train[name] = float(value)
            else:
                _train_value(d, train, name, value, line)
        elif kind == _COCO:
            _eval_value(d, evals, eval_set, primary, name[len(eval_set) :], value, line)
        elif kind == _FACT:
            d.skip(FACT_NOT_USED, line)
        elif kind == _TIME:
            ts = _clock(value)
            if ts != ts:
                d.skip(f"`{CLOCK_KEY}` that is no date", line)
        elif kind == _OTHER:
            d.skip("field of no train or evaluation set (a running best, a whole-epoch time …)", line)
    # counted from 1 like every log's epochs (Segment.epoch_base keeps the log's 0); the
    # row sums up its whole epoch, and steps count epochs (Segment.epoch_rows)
    d.row(train, epoch=epoch + 1, step=epoch + 1, ts=ts, line=line)
    d.evaluations(evals, epoch=epoch + 1, line=line)  # after their epoch's train row


# what `_plan_of` reads a key as
_POSITION, _FACT, _TIME, _TRAIN, _EVAL, _COCO, _OTHER = range(7)


@functools.lru_cache(maxsize=64)  # the rows of a log repeat one or two layouts of keys
def _plan_of(keys: tuple[str, ...]) -> tuple[str | None, tuple[tuple[int, str, str], ...]]:
    """A row's keys, each looked at once per layout: (the row's primary evaluation set, per
    key in the row's order (kind, name, evaluation set)). A train key's name is its column,
    an evaluation key's is the key (the metric); a COCO list, or a value that is no number,
    goes the long way (`_eval_value`, `_train_value`)."""
    primary = next((s for s in EVAL_SETS if any(k.startswith(s) and not _is_fact(k) for k in keys)), None)
    plan = []
    for key in keys:
        if key == "epoch" or key in PARAMETER_KEYS:
            plan.append((_POSITION, key, ""))  # positions and launches (read_records)
            continue
        if key in INT_FACTS or key in STRING_FACTS:
            plan.append((_FACT, key, ""))
            continue
        if key == CLOCK_KEY:
            plan.append((_TIME, key, ""))
            continue
        eval_set = _eval_set(key)
        if key.startswith(TRAIN) and eval_set is None:
            plan.append((_TRAIN, key[len(TRAIN) :], ""))
        elif eval_set is not None:
            plan.append((_COCO if key[len(eval_set) :] in COCO_LISTS else _EVAL, key, eval_set))
        else:
            plan.append((_OTHER, key, ""))
    return primary, tuple(plan)


def _is_fact(key: str) -> bool:
    return key in INT_FACTS


_LONGEST_SET_FIRST = tuple(sorted(EVAL_SETS, key=len, reverse=True))  # `ema_test_` before `test_`


@functools.lru_cache(maxsize=4096)  # every row repeats the same few hundred keys
def _eval_set(key: str) -> str | None:
    if _is_fact(key):
        return None
    return next((s for s in _LONGEST_SET_FIRST if key.startswith(s)), None)


def _number(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _train_value(d: Records, train: dict, name: str, value, line: int) -> None:
    v = _number(value)
    if v is None and isinstance(value, str):
        v = duration_seconds(value)
        if v != v:
            v = None
    if v is None:
        d.skip("train field that is not a number", line)
        return
    train[name] = v


def _eval_value(d: Records, evals: list, eval_set: str, primary: str | None, name: str, value, line: int) -> None:
    if name in COCO_LISTS:
        named, absent = stats_metrics(value)
        if not named and not absent:
            d.skip("COCO list that is not 12 numbers", line)
            return
        d.skip(NO_OBJECTS_REASON, line, absent)
        prefix = COCO_LISTS[name] + ("" if eval_set == primary else SET_LABEL[eval_set] + "/")
        evals.extend((prefix + metric, v) for metric, v in named)
        return
    v = _number(value)
    if v is None:
        d.skip("evaluation field that is not a number", line)
        return
    evals.append((eval_set + name, v))


_CLOCK = re.compile(r"^\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:\.\d+)?$")


def _clock(value) -> float:
    """Unix seconds of `2025-05-18 18:38:37.791596` (local time of the training machine,
    read as UTC: only differences are used)."""
    if not isinstance(value, str) or not _CLOCK.match(value):
        return NAN
    try:
        t = _dt.datetime.fromisoformat(value)
    except ValueError:
        return NAN
    return t.replace(tzinfo=_dt.timezone.utc).timestamp()
