"""How a log ended: the last Python traceback (exception type, message, the frame that raised
it) and the last lines, read from the end of the file.

A console capture interleaves stdout with stderr, so the first unindented line after the
frames of a traceback is not always the exception: an evaluation table or a metric line
(`mAP: 0.4822`) printed by another process can land between the last frame and
`KeyError: 'data_time'`. The exception line is the first line after the last frame that
names an exception class (`…Error`, `…Exception`, `KeyboardInterrupt`, …); only when no
such line follows is the first `Name: message` line taken.

The text parser keeps each launch's last lines (`tail_of`, `TAIL_BYTES` at most) in `Meta.tail`:
the rules read them there, never the file again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

TAIL_BYTES = 256 * 1024  # a traceback is a few KB; a DDP crash with 8 ranks' tracebacks stays far below
MAX_LINE = 300  # characters kept of one quoted line
TRACEBACK = "Traceback (most recent call last)"
FRAME = re.compile(r'^\s*File "(?P<file>[^"]+)", line (?P<line>\d+), in (?P<func>\S+)')
EXCEPTION_NAME = re.compile(
    r"^(?P<type>(?:[A-Za-z_]\w*\.)*[A-Za-z_]\w*(?:Error|Exception|Interrupt|Exit|Warning|Failure|Fault)"
    r"|StopIteration|GeneratorExit|KeyboardInterrupt|SystemExit)(?::\s?(?P<message>.*))?$"
)
# an exception class is CamelCase by convention: `mAP: 0.4822` is not one
ANY_NAME = re.compile(r"^(?P<type>(?:[A-Za-z_]\w*\.)*[A-Z]\w*)(?::\s(?P<message>.*))?$")
LIBRARY = re.compile(r"[/\\](site|dist)-packages[/\\]|[/\\]lib[/\\]python\d")


@dataclass(frozen=True)
class Crash:
    type: str  # 'KeyError'
    message: str  # "'data_time'" ('' when the exception has none)
    file: str | None  # where it was raised: the last frame of the traceback
    line: int | None
    func: str | None
    caller: str | None = None  # the last frame in the run's own code (outside installed packages)

    @property
    def exception(self) -> str:
        return f"{self.type}: {self.message}" if self.message else self.type

    @property
    def where(self) -> str | None:
        if self.file is None:
            return None
        return f'File "{self.file}", line {self.line}, in {self.func}'


def tail_of(data: bytes, max_bytes: int = TAIL_BYTES) -> list[str]:
    """The last lines of `data` (a launch's bytes, at most `max_bytes` of them), decoded,
    a partial first line dropped."""
    cut = len(data) > max_bytes
    data = data[-max_bytes:]
    if cut:
        data = data[data.find(b"\n") + 1 :]
    text = data.decode("utf-8", errors="replace").replace("\r\n", "\n")
    # a progress bar redraws with \r: what was last drawn is what the user saw
    return [clean(line.rsplit("\r", 1)[-1]) for line in text.split("\n")]


def clean(line: str) -> str:
    """A line cut to MAX_LINE characters. Control characters stay: what prints a line
    makes them visible (bevlog.output.clean), JSON keeps the exact text for programs."""
    line = line.rstrip("\n")
    return line if len(line) <= MAX_LINE else line[: MAX_LINE - 1] + "…"


# a launcher's exception that only reports that a worker died: the worker's traceback before it
# is the cause (torchrun's ChildFailedError, `subprocess.run(check=True)` in tools/dist_train.sh)
LAUNCHER_EXCEPTIONS = ("ChildFailedError", "CalledProcessError")


def last_traceback(lines: list[str]) -> Crash | None:
    """The exception and raising frame of the last traceback in `lines` (a launcher's
    "a worker failed" skipped for the worker's own traceback), None when there is none."""
    starts = [i for i, line in enumerate(lines) if TRACEBACK in line]
    crash = None
    for start in reversed(starts):
        end = next((s for s in starts if s > start), len(lines))
        found = _read_traceback(lines[start + 1 : end])
        crash = crash or found
        if not found.type.endswith(LAUNCHER_EXCEPTIONS):
            return found
    return crash


def traceback_block(lines: list[str], n: int) -> list[str]:
    """The last traceback in `lines` from its `Traceback …` line on, blank lines dropped, at
    most its last `n` lines (its innermost frames and the exception); [] when there is none."""
    starts = [i for i, line in enumerate(lines) if TRACEBACK in line]
    if not starts:
        return []
    return [line for line in lines[starts[-1] :] if line.strip()][-n:]


def _read_traceback(body: list[str]) -> Crash:
    ends = [k for k, s in enumerate(body) if not s.startswith((" ", "\t")) and EXCEPTION_NAME.match(s.strip())]
    frames = [m for m in (FRAME.match(s) for s in (body[: ends[0]] if ends else body)) if m is not None]
    frame = frames[-1] if frames else None
    own = [m for m in frames if not LIBRARY.search(m.group("file"))]
    caller = _frame_text(own[-1]) if own and own[-1] is not frame else None
    m = EXCEPTION_NAME.match(body[ends[0]].strip()) if ends else None
    if m is not None:
        kind, message = m.group("type"), (m.group("message") or "").strip()
    else:
        kind, message = _named_exception(body) or ("an exception", "")
    file, line, func = _frame_parts(frame)
    return Crash(kind, message, file, line, func, caller)


def exception_after(lines: list[str]) -> str | None:
    """'Type: message' of the first line in `lines` (the lines after a traceback's last frame)
    that names an exception; the parsers and the rules share this one reading."""
    found = _named_exception(lines)
    if found is None:
        return None
    return f"{found[0]}: {found[1]}" if found[1] else found[0]


def _named_exception(lines):
    candidates = [s.strip() for s in lines if s.strip() and not s.startswith((" ", "\t"))]
    for text in candidates:
        m = EXCEPTION_NAME.match(text)
        if m:
            return m.group("type"), (m.group("message") or "").strip()
    for text in candidates:  # no exception-looking name: the first `Name: message` line
        m = ANY_NAME.match(text)
        if m and m.group("message") is not None:
            return m.group("type"), m.group("message").strip()
    return None


def _frame_text(m) -> str:
    return f'File "{m.group("file")}", line {m.group("line")}, in {m.group("func")}'


def _frame_parts(m):
    if m is None:
        return None, None, None
    return m.group("file"), int(m.group("line")), m.group("func")


def last_lines(lines: list[str], n: int = 3) -> list[str]:
    """The last `n` non-empty lines."""
    out = [line for line in lines if line.strip()]
    return out[-n:]
