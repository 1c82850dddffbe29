"""DETR's console output: what `main.py` of facebookresearch/detr and its descendants
(Deformable-DETR, Conditional-DETR, DN/DAB-DETR, DINO …) print, captured by nohup, slurm or
a terminal.

Records (`util/misc.py` MetricLogger, fields joined by two spaces):
- `Epoch: [e]  [  i/n]  eta: 4 days, 6:29:58  lr: 0.000040  class_error: 56.38
  grad_norm: 38.40  loss: 8.1469 (8.1469)  loss_ce: …  time: 8.7609  data: 0.0000  max mem: 7284`
  -> one train row at epoch e, iteration i of n (the log counts both from 0; the frames
  count from 1: epoch e+1, i+1 iterations done; `Segment.epoch_base` keeps the 0). A smoothed
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
  dec_layers, aux_loss, clip_max_norm …), read with `ast` (parsers.formats.namespace); a
  new Namespace starts a new launch, and so does an epoch that goes back. A launch with
  `resume` set whose first epoch is above 0 resumed after the epochs before it.
"""

from __future__ import annotations

import re

from parsers.bounds import MAX_KEYS
from parsers.formats.coco import NO_OBJECTS, NO_OBJECTS_REASON, summary_metric
from parsers.formats.durations import duration_seconds
from parsers.formats.namespace import read_namespace
from parsers.formats.records import NAN, Records, ending, lines_of, segments, text_of
from parsers.run import ParseError
from parsers.segment import Resume, Segment

FORMAT = "detr-console"
LIBRARY = "detr"
EPOCH_BASE = 0
TRAIN_LINE = re.compile(
    r"^Epoch: \[(?P<e>\d{1,9})\]\s+\[\s*(?P<i>\d{1,15})/(?P<n>\d{1,15})\]\s+eta: (?P<eta>(?:\d+ days?, )?\d+:\d\d:\d\d)"
    r"(?P<body>(?:\s{2}.*)?)$"
)
SNIFF = re.compile(rb"(?m)^Epoch: \[\d{1,9}\]\s+\[\s*\d{1,15}/\d{1,15}\]\s+eta: (?:\d+ days?, )?\d+:\d\d:\d\d  ")
TEST_LINE = re.compile(r"^Test:\s+\[\s*\d+/\d+\]\s+eta: ")
EPOCH_TOTAL = re.compile(r"^Epoch: \[(?P<e>\d{1,9})\] Total time: ")
TEST_TOTAL = re.compile(r"^Test: Total time: ")
AVERAGED = "Averaged stats: "
IOU_METRIC = re.compile(r"^IoU metric: (?P<kind>\w+)\s*$")
FIELD = re.compile(r"^(?P<key>[A-Za-z_][\w ]{0,80}?): (?P<cur>\S+)(?: \((?P<avg>\S+)\))?$")
RENAME = {"data": "data_time", "max mem": "memory"}
COCO_PREFIX = {"bbox": "", "segm": "segm/", "keypoints": "keypoints/"}
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
OTHER = "other output"


def sniff(head: bytes) -> bool:
    return SNIFF.search(head) is not None


def fields(body: str) -> tuple[dict[str, tuple[float, float]], int]:
    """{key: (current, average)} of a record body (NaN where a part is not printed) and the
    count of fields that are not `key: number [(number)]`."""
    return FieldReader()(body)


class FieldReader:
    """`fields` of record after record. A capture prints one layout of fields (the keys, and
    which of them print an average) on record after record, so the layout of the last body
    read part by part is tried first, as one regex over the whole body: it matches only a
    body of exactly those fields joined by two spaces, each of which the part-by-part reading
    takes the same way; any other body is read part by part. A layout of more than MAX_KEYS
    fields (parsers.bounds) is not made a regex: a hostile line would size it."""

    def __init__(self) -> None:
        self._layout: tuple[tuple[str, bool], ...] = ()
        self._regex: re.Pattern | None = None

    def __call__(self, body: str) -> tuple[dict[str, tuple[float, float]], int]:
        if self._regex is not None:
            m = self._regex.match(body)
            if m is not None:
                return _numbers(zip(self._layout, _pairs(m.groups(), self._layout)))
        parts, bad, layout = _parts(body)
        if not bad and 0 < len(layout) <= MAX_KEYS and layout != self._layout:
            self._layout, self._regex = layout, _layout_regex(layout)
        values, bad_numbers = _numbers(parts)
        return values, bad + bad_numbers


def _parts(body: str):
    """The body split at two spaces: ([((key, has_average), (current, average text))], parts
    that are not `key: value [(value)]`, the layout of those that are)."""
    parts, bad = [], 0
    match = FIELD.match
    for part in body.split("  "):
        part = part.strip()
        if not part:
            continue
        m = match(part)
        if m is None:
            bad += 1
            continue
        key, cur_text, avg_text = m.groups()
        parts.append(((key, avg_text is not None), (cur_text, avg_text)))
    return parts, bad, tuple(p[0] for p in parts)


def _pairs(groups: tuple, layout) -> list[tuple[str, str | None]]:
    out, k = [], 0
    for _, has_avg in layout:
        out.append((groups[k], groups[k + 1] if has_avg else None))
        k += 2 if has_avg else 1
    return out


def _layout_regex(layout) -> re.Pattern:
    return re.compile(
        "".join(rf"  {re.escape(key)}: (\S+)" + (r" \((\S+)\)" if has_avg else "") for key, has_avg in layout) + r"\Z"
    )


def _numbers(parts) -> tuple[dict[str, tuple[float, float]], int]:
    """The parts' values as numbers; a current value that is no number is a bad field."""
    out: dict[str, tuple[float, float]] = {}
    bad = 0
    for (key, _), (cur_text, avg_text) in parts:
        try:
            cur = float(cur_text)
        except ValueError:
            bad += 1
            continue
        if cur != cur and cur_text.lower() != "nan":
            bad += 1
            continue
        out[RENAME.get(key, key)] = (cur, _float(avg_text) if avg_text else NAN)
    return out, bad


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return NAN


def read(source: str, content: list, engine: str = "fast", chunk: int | None = None) -> list[Segment]:
    """One Segment per launch (one implementation for both engines; `chunk` is not used)."""
    launches = read_records(source, text_of(content))
    if not any(d.rows or d.evals for d in launches):
        raise ParseError(source, "no DETR MetricLogger record (`Epoch: [e]  [i/n]  eta: …`) found")
    return segments(launches, LIBRARY, "epoch", epoch_base=EPOCH_BASE)


def read_records(source: str, text: str) -> list[Records]:
    """The launches of a captured DETR console output, in file order (at least one)."""
    launches = [Records(source, FORMAT, first_line=1)]
    state: dict = {"after": None, "coco": None, "epoch": None}  # after: 'train' | 'test' total line seen
    lines = lines_of(text)
    train_fields = FieldReader()
    for no, raw in enumerate(lines, 1):
        line = ANSI.sub("", raw.rsplit("\r", 1)[-1]).rstrip()
        d = launches[-1]
        if line.startswith("Namespace("):
            args = read_namespace(line)
            if args is None:
                d.skip("`Namespace(` line that does not parse", no)
                continue
            if d.rows or d.evals or "args" in d.fields:
                d = _new(launches, source, no)
            d.fields["args"] = args
            d.last_line = no
            continue
        m = TRAIN_LINE.match(line)
        if m is not None:
            # counted from 1 in the frames: epoch e is the (e+1)-th, [i/n] has i+1 iterations done
            e, i, n = int(m.group("e")) + 1, int(m.group("i")) + 1, int(m.group("n"))
            if d.rows and (e < d.epoch[-1] or (e == d.epoch[-1] and i <= d.iter[-1])):
                d = _new(launches, source, no)  # the count went back: another launch
            values, bad = train_fields(m.group("body"))
            d.skip("field that is not `key: number`", no, bad)
            d.row(
                {k: cur for k, (cur, _) in values.items()},
                epoch=e,
                iter=i,
                n=n,
                eta_s=duration_seconds(m.group("eta")),
                line=no,
            )
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
            _averaged(d, state, line[len(AVERAGED) :], no)
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
        if line.strip():
            d.skip(OTHER, no)  # the script's prints, shell traces, tracebacks, pycocotools' progress
            d.last_line = no
    for d in launches:
        _launch_facts(d)
        ending(d, lines)
    return launches


def _launch_facts(d: Records) -> None:
    """seed from the arguments; a resume: `resume` set, and the first epoch follows a
    checkpoint of the epochs before it (DETR sets `start_epoch` from the checkpoint after
    printing its arguments, so the first row says where it resumed)."""
    args = d.fields.get("args") or {}
    seed = args.get("seed")
    if isinstance(seed, int) and not isinstance(seed, bool):
        d.fields["seed"] = seed
    done = d.epoch[0] - 1 if d.rows else NAN
    if done == done and done > 0 and args.get("resume"):
        n = d.n[0]
        d.fields["resumes"] = (
            Resume(line=d.first_line, date=None, epoch=int(done), iter=int(done * n) if n == n else 0),
        )


def _new(launches: list, source: str, line: int) -> Records:
    d = Records(source, FORMAT, first_line=line, last_line=line)
    launches.append(d)
    return d


def _epoch(state) -> float:
    return float(state["epoch"]) if state["epoch"] is not None else NAN


def _averaged(d: Records, state: dict, body: str, no: int) -> None:
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
    d.skip("evaluation field printed as its last batch only (no average)", no, singles)
    state["after"] = None
