"""DETR's console output: what `main.py` of facebookresearch/detr and its descendants
(Deformable-DETR, Conditional-DETR, DN/DAB-DETR, DINO …) print, captured by nohup, slurm or
a terminal.

Records (`util/misc.py` MetricLogger, fields joined by two spaces):
- `Epoch: [e]  [  i/n]  eta: 4 days, 6:29:58  lr: 0.000040  class_error: 56.38
  grad_norm: 38.40  loss: 8.1469 (8.1469)  loss_ce: …  time: 8.7609  data: 0.0000  max mem: 7284`
  -> one train row: epoch e (counted from 0, as in log.txt), iteration i of n. A smoothed
  value prints as `current (average)`: `current` is the median of the last 20 iterations,
  `average` the mean since the epoch began; the row takes `current` (the row's own
  measurement). `time`/`data` (seconds per iteration, mean of the last 20) -> `time` /
  `data_time`; `max mem` (MB) -> `memory`.
- `Test:  [i/n]  eta: …` -> evaluation progress, counted, not a row.
- `Averaged stats: …` after `Test: Total time` -> evaluation metrics `test_<key>` from the
  averages (what log.txt stores as `test_<key>`); a field printed without an average (its
  last batch only, such as `class_error`) is counted, not read. After an epoch's `Total
  time` line it repeats that epoch's averages: counted, not read (the rows are the curve).
- pycocotools' summary after `IoU metric: bbox` (`segm`) -> AP, AP50 … (`segm/AP` …), named
  by what each line states (parsers.coco), at the epoch just trained.
- `Namespace(...)`: the launch's arguments (lr, batch_size, world_size, epochs, lr_drop,
  dec_layers, aux_loss, clip_max_norm …), read with `ast` (parsers.namespace); a new
  Namespace starts a new launch, and so does an epoch that goes back.
"""
from __future__ import annotations

import re

from parsers.clock import duration_seconds
from parsers.coco import NO_OBJECTS, NO_OBJECTS_REASON, summary_metric
from parsers.draft import NAN, Draft
from parsers.namespace import read_namespace

FORMAT = "detr-console"
EPOCH_BASE = 0
TRAIN_LINE = re.compile(
    r"^Epoch: \[(?P<e>\d{1,9})\]\s+\[\s*(?P<i>\d{1,15})/(?P<n>\d{1,15})\]\s+eta: (?P<eta>(?:\d+ days?, )?\d+:\d\d:\d\d)"
    r"(?P<body>(?:\s{2}.*)?)$")
SNIFF = re.compile(rb"(?m)^Epoch: \[\d{1,9}\]\s+\[\s*\d{1,15}/\d{1,15}\]\s+eta: (?:\d+ days?, )?\d+:\d\d:\d\d  ")
TEST_LINE = re.compile(r"^Test:\s+\[\s*\d+/\d+\]\s+eta: ")
EPOCH_TOTAL = re.compile(r"^Epoch: \[(?P<e>\d{1,9})\] Total time: ")
TEST_TOTAL = re.compile(r"^Test: Total time: ")
AVERAGED = "Averaged stats: "
IOU_METRIC = re.compile(r"^IoU metric: (?P<kind>\w+)\s*$")
PARAMS = re.compile(r"^number of params: (?P<n>\d{1,15})\s*$")
FIELD = re.compile(r"^(?P<key>[A-Za-z_][\w ]{0,80}?): (?P<cur>\S+)(?: \((?P<avg>\S+)\))?$")
RENAME = {"data": "data_time", "max mem": "memory"}
COCO_PREFIX = {"bbox": "", "segm": "segm/", "keypoints": "keypoints/"}
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def sniff(head: bytes) -> bool:
    return SNIFF.search(head) is not None


def fields(body: str) -> tuple[dict[str, tuple[float, float]], int]:
    """{key: (current, average)} of a record body (NaN where a part is not printed) and the
    count of fields that are not `key: number [(number)]`."""
    out: dict[str, tuple[float, float]] = {}
    bad = 0
    for part in body.split("  "):
        part = part.strip()
        if not part:
            continue
        m = FIELD.match(part)
        if m is None:
            bad += 1
            continue
        cur, avg = _float(m.group("cur")), _float(m.group("avg")) if m.group("avg") else NAN
        if cur != cur and m.group("cur").lower() != "nan":
            bad += 1
            continue
        key = m.group("key")
        out[RENAME.get(key, key)] = (cur, avg)
    return out, bad


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return NAN


def read_drafts(source: str, text: str) -> list[Draft]:
    """The launches of a captured DETR console output, in file order (at least one)."""
    launches = [Draft(source, FORMAT, first_line=1)]
    launches[0].facts["epoch_base"] = EPOCH_BASE
    state = {"after": None, "coco": None, "epoch": None}  # after: 'train' | 'test' total line seen
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for no, raw in enumerate(lines, 1):
        line = ANSI.sub("", raw.rsplit("\r", 1)[-1]).rstrip()
        d = launches[-1]
        if line.startswith("Namespace("):
            args = read_namespace(line)
            if args is None:
                d.skip("`Namespace(` line that does not parse", no)
                continue
            if d.rows or d.evals or "args" in d.facts:
                d = _new(launches, source, no)
            d.facts["args"] = args
            d.last_line = no
            continue
        m = TRAIN_LINE.match(line)
        if m is not None:
            e, i, n = int(m.group("e")), int(m.group("i")), int(m.group("n"))
            if d.rows and (e < d.epoch[-1] or (e == d.epoch[-1] and i <= d.iter[-1])):
                d = _new(launches, source, no)  # the count went back: another launch
            values, bad = fields(m.group("body"))
            d.skip("field that is not `key: number`", no, bad)
            d.row({k: cur for k, (cur, _) in values.items()}, epoch=e, iter=i, n=n,
                  eta_s=duration_seconds(m.group("eta")), line=no)
            state.update(after=None, coco=None, epoch=e)
            d.last_line = no
            continue
        if line.startswith("Epoch: ["):
            if EPOCH_TOTAL.match(line):
                state["after"] = "train"
            else:
                d.skip("`Epoch: [` line that is not a MetricLogger record", no)
            d.last_line = no
            continue
        if TEST_LINE.match(line):
            d.skip("evaluation progress line (`Test:  [i/n]`)")
            d.last_line = no
            continue
        if TEST_TOTAL.match(line):
            state["after"] = "test"
            d.last_line = no
            continue
        if line.startswith(AVERAGED):
            _averaged(d, state, line[len(AVERAGED):], no)
            d.last_line = no
            continue
        m = IOU_METRIC.match(line)
        if m is not None:
            state["coco"] = COCO_PREFIX.get(m.group("kind"), m.group("kind") + "/")
            d.last_line = no
            continue
        found = summary_metric(line) if state["coco"] is not None else None
        if found is not None:
            name, value = found
            if value == NO_OBJECTS:
                d.skip(NO_OBJECTS_REASON, no)
            else:
                d.evaluation(state["coco"] + name, value, epoch=_epoch(state), line=no)
            d.last_line = no
            continue
        m = PARAMS.match(line)
        if m is not None:
            d.facts.setdefault("n_parameters", int(m.group("n")))
        if line.strip():
            d.last_line = no
    for d in launches:
        args = d.facts.get("args") or {}
        start = args.get("start_epoch")
        first = d.epoch[0] if d.rows else NAN
        if isinstance(start, int) and not isinstance(start, bool) and start > 0:
            d.facts["resumed_from_epoch"] = start
        elif first == first and first > 0:
            d.facts["resumed_from_epoch"] = int(first)
    return launches


def _new(launches: list, source: str, line: int) -> Draft:
    d = Draft(source, FORMAT, first_line=line, last_line=line)
    d.facts["epoch_base"] = EPOCH_BASE
    launches[-1].last_line = max(launches[-1].last_line, line - 1)
    launches.append(d)
    return d


def _epoch(state) -> float:
    return float(state["epoch"]) if state["epoch"] is not None else NAN


def _averaged(d: Draft, state: dict, body: str, no: int) -> None:
    if state["after"] != "test":
        d.skip("epoch summary (`Averaged stats:` of the rows above)", no)
        return
    values, bad = fields(body)
    d.skip("field that is not `key: number`", no, bad)
    singles = 0
    for key, (_, avg) in values.items():
        if avg != avg:
            singles += 1
            continue
        d.evaluation("test_" + key, avg, epoch=_epoch(state), line=no)
    d.skip("evaluation field printed without its average (its last batch only)", no, singles)
    state["after"] = None
