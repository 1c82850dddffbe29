"""detectron2 / detrex console log (`log.txt` of `setup_logger`, or a capture of stdout).

Lines start `[08/11 17:10:37] d2.utils.events INFO: ` (the file format) or, coloured on a
terminal, `[08/11 17:10:37 d2.utils.events]: `; ANSI colour codes are removed first. The
clock has no year: rows get seconds from the launch's first line (`ts` relative, the
year unknown: `Segment.year_unknown`), enough for wall time.

- `d2.utils.events` `eta: 14:47:53  iter: 19  total_loss: 82.22  …  max_mem: 22331M` -> one
  train row at `iter` (as logged), keys as in parsers.formats.detectron2_keys;
- `copypaste: Task: bbox` / `copypaste: AP,AP50,…` / `copypaste: 42.0018,62.3211,…` ->
  evaluation rows `bbox/AP` … (0–100, as logged) after the last train row;
- `Rank of current process` (detectron2's `default_setup`) starts a launch, and so does an
  `iter` that goes back; `Command line arguments: Namespace(...)` are the launch's
  arguments, `Starting training from iteration N` with N > 0 a resume;
- a Python traceback ends its launch (its exception is the launch's `traceback`, its last
  lines its `tail`); the other lines (config dumps, model, tables) are counted as other output.
"""

from __future__ import annotations

import datetime as _dt
import re

from parsers.formats.detectron2_keys import LIBRARY, LOSS_MEDIAN_OF, train_name
from parsers.formats.durations import duration_seconds
from parsers.formats.namespace import read_namespace
from parsers.formats.records import NAN, Records, ending, lines_of, segments, text_of
from parsers.formats.text.clock import STAND_IN_YEAR, YEAR_BACK
from parsers.run import ParseError
from parsers.segment import Resume, Segment

FORMAT = "detectron2-console"
OTHER = "other output"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
FILE_LINE = re.compile(r"^\[(?P<date>\d\d/\d\d \d\d:\d\d:\d\d)\] (?P<logger>[\w.]+) (?P<level>[A-Z]+): (?P<msg>.*)$")
TERMINAL_LINE = re.compile(r"^\[(?P<date>\d\d/\d\d \d\d:\d\d:\d\d) (?P<logger>[\w.]+)\]: (?P<msg>.*)$")
_LOGGERS = rb"(?:d2|detectron2|fvcore|detrex)[\w.]*"
SNIFF = re.compile(
    rb"(?m)^(?:\x1b\[[0-9;]*m)?\[\d\d/\d\d \d\d:\d\d:\d\d(?:\] " + _LOGGERS + rb" [A-Z]+: | " + _LOGGERS + rb"\]: )"
)
EVENTS = "d2.utils.events"
ITER = re.compile(r"(?:^|\s)iter: (?P<i>\d{1,15})(?:\s|$)")
FIELD = re.compile(r"^(?P<key>[\w/.]{1,120}): (?P<v>\S+)$")
LAUNCH = "Rank of current process"
ARGS = "Command line arguments: "
START = re.compile(r"Starting training from iteration (?P<i>\d{1,15})")
COPYPASTE = "copypaste: "


def sniff(head: bytes) -> bool:
    return SNIFF.search(head) is not None


def _line(raw: str):
    line = ANSI.sub("", raw).rstrip()
    return FILE_LINE.match(line) or TERMINAL_LINE.match(line), line


def read(source: str, content: list, engine: str = "fast", chunk: int | None = None) -> list[Segment]:
    """One Segment per launch (one implementation for both engines; `chunk` is not used)."""
    launches = read_records(source, text_of(content))
    if not any(d.rows or d.evals for d in launches):
        raise ParseError(source, "no detectron2 training record (`d2.utils.events … iter: N`) or evaluation found")
    return segments(launches, LIBRARY, "iter", year_unknown=True, loss_median_of=LOSS_MEDIAN_OF)


def read_records(source: str, text: str) -> list[Records]:
    launches: list[Records] = []
    clock = _Clock()
    task = None
    names: list[str] | None = None
    lines = lines_of(text)
    for no, raw in enumerate(lines, 1):
        m, line = _line(raw)
        d = launches[-1] if launches else None
        if m is None:
            if d is None:
                d = _new(launches, source, no)
            if line.strip():
                d.skip(OTHER, no)
            d.last_line = no
            continue
        msg = m.group("msg")
        ts = clock.seconds(m.group("date"))
        if d is None or (msg.startswith(LAUNCH) and (d.rows or d.evals or d.fields.get("start_date"))):
            d = _new(launches, source, no)
        if "start_date" not in d.fields:
            d.fields["start_date"] = m.group("date")
            task, names = None, None
        d.last_line = no
        if m.group("logger") == EVENTS and ITER.search(msg):
            _event(d, launches, source, msg, ts, no)
            continue
        if msg.startswith(ARGS):
            args = read_namespace(msg[len(ARGS) :])
            if args is not None:
                d.fields["args"] = args
            continue
        s = START.search(msg)
        if s is not None and int(s.group("i")) > 0:
            d.fields["resumes"] = (Resume(line=no, date=m.group("date"), epoch=None, iter=int(s.group("i"))),)
            continue
        if msg.startswith(COPYPASTE):
            task, names = _copypaste(d, msg[len(COPYPASTE) :].strip(), task, names, no)
    if not launches:
        _new(launches, source, 1)
    for d in launches:
        ending(d, lines)
    return launches


def _event(d: Records, launches: list, source: str, msg: str, ts: float, no: int) -> None:
    found = ITER.search(msg)
    if found is None:
        return
    it = int(found.group("i"))
    if d.rows and it <= d.step[-1]:
        d = _new(launches, source, no)
    values: dict[str, float] = {}
    eta = NAN
    for part in msg.split("  "):
        part = part.strip()
        if not part:
            continue
        f = FIELD.match(part)
        if f is None:
            if part.startswith("eta: "):
                eta = duration_seconds(part[len("eta: ") :])
                continue
            d.skip("field that is not `key: number`", no)
            continue
        key, text = f.group("key"), f.group("v")
        if key == "iter":
            continue
        if key == "eta":
            eta = duration_seconds(text)
            continue
        if key == "max_mem" and text.endswith("M"):
            text = text[:-1]
        try:
            values[train_name(key)] = float(text)
        except ValueError:
            d.skip("field that is not `key: number`", no)
    d.row(values, iter=it, step=it, ts=ts, eta_s=eta, line=no)
    d.last_line = no


def _copypaste(d: Records, body: str, task, names, no: int):
    if body.startswith("Task: "):
        return body[len("Task: ") :].strip(), None
    parts = [p.strip() for p in body.split(",")]
    if task is None:
        return task, names
    if names is None:
        return task, parts
    if len(parts) != len(names):
        d.skip("copypaste values that do not match their names", no)
        return task, None
    for name, text in zip(names, parts):
        try:
            value = float(text)
        except ValueError:
            d.skip("copypaste value that is not a number", no)
            continue
        d.evaluation(f"{task}/{name}", value, step=d.step[-1] if d.rows else NAN, line=no)
    return task, None


def _new(launches: list, source: str, line: int) -> Records:
    d = Records(source, FORMAT, first_line=line, last_line=line)
    launches.append(d)
    return d


class _Clock:
    """`MM/DD HH:MM:SS` -> seconds, counting on across a new year (the month goes back)."""

    def __init__(self):
        self.year = STAND_IN_YEAR
        self.last = None

    def seconds(self, date: str) -> float:
        try:
            t = _dt.datetime.strptime(f"{self.year}/{date}", "%Y/%m/%d %H:%M:%S")
        except ValueError:
            return NAN
        if self.last is not None and (self.last - t).total_seconds() > YEAR_BACK:
            self.year += 1
            t = t.replace(year=self.year)
        self.last = t
        return t.replace(tzinfo=_dt.timezone.utc).timestamp()
