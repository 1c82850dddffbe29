"""Everything bevlog prints or writes goes through here.

- `clean(text)`: text that came from a log (run and dir names, keys, exception lines,
  messages quoting them) with its control characters made visible, so a log cannot
  drive the terminal (`ESC[2J` clears the screen, an OSC sequence sets the window title,
  a bare CR rewrites the line). Every printer applies it to log-derived strings; our
  own colours are added afterwards by rich, never taken from the log.
- `write_atomic(path, data)` / `atomic_path(path)`: a file output appears whole or not
  at all: written to a temporary file in the same directory, then renamed over the
  target (`os.replace`), so a killed writer leaves the previous file intact and two
  writers of one path leave one valid file. Devices and pipes (`/dev/stdout`,
  `/dev/full`) are written directly.
- `BadInput`, `OutputError`: what a command cannot do, as one line with exit code 2.
"""
from __future__ import annotations

import contextlib
import os
import re
import stat
import tempfile

import click

# C0 controls except TAB and LF, DEL, and the C1 controls (U+0080-U+009F; U+009B is a
# one-character CSI for terminals that honour 8-bit controls).
_CONTROL_KEEP_LF = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")


def _visible(m: re.Match) -> str:
    c = m.group(0)
    return "^[" if c == "\x1b" else f"\\x{ord(c):02x}"


def clean(text, newlines: bool = False) -> str:
    """`text` with control characters replaced by a visible escape (`ESC` -> `^[`, others
    `\\xNN`). TAB is kept; LF is kept only with `newlines=True` (a multi-line block)."""
    text = str(text)
    return (_CONTROL_KEEP_LF if newlines else _CONTROL).sub(_visible, text)


class BadInput(click.ClickException):
    """Input or usage a command cannot work with: one cleaned line, exit code 2."""

    exit_code = 2

    def show(self, file=None):
        error(self.message)


class OutputError(BadInput):
    """Writing an output failed: one line, exit code 2 (bad input/usage, not findings)."""


def cannot_write(path, exc: OSError, what: str = "") -> OutputError:
    return OutputError(f"{path}: cannot write{' ' + what if what else ''}: {exc.strerror or exc}")


@contextlib.contextmanager
def atomic_path(path, what: str = ""):
    """Yield a temporary path next to `path`; when the block succeeds it replaces `path`.

    Any OSError (no such directory, read-only, disk full) becomes an OutputError naming
    `path`. The temporary file is removed when the block fails or is interrupted."""
    path = os.fspath(path)
    if _is_special(path):
        try:
            yield path
        except OSError as exc:
            raise cannot_write(path, exc, what) from None
        return
    directory = os.path.dirname(os.path.abspath(path))
    try:
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
        os.close(fd)
    except OSError as exc:
        raise cannot_write(path, exc, what) from None
    try:
        yield tmp
        os.chmod(tmp, _mode_for(path))
        os.replace(tmp, path)
    except OSError as exc:
        raise cannot_write(path, exc, what) from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def write_atomic(path, data: str | bytes, what: str = "") -> int:
    """Write `data` (str as UTF-8) to `path` atomically; returns the bytes written.
    `what` ('the report') goes into the error line."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    with atomic_path(path, what) as tmp:
        with open(tmp, "wb") as f:
            f.write(raw)
            f.flush()
            os.fsync(f.fileno())
    return len(raw)


def _is_special(path: str) -> bool:
    """A device, pipe or socket: it cannot be renamed over, it is written in place."""
    try:
        return not stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False  # does not exist yet (or unreachable: the temp file says why)


def _mode_for(path: str) -> int:
    """Keep an existing file's permissions; a new file gets 0666 minus the umask, as
    `open()` would have given it (mkstemp makes it 0600)."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def error(line: str) -> None:
    """One `error: …` line on stderr (log-derived text cleaned)."""
    click.echo(f"error: {clean(line)}", err=True)


def note(line: str) -> None:
    """One `note: …` line on stderr: something skipped that is not an error."""
    click.echo(f"note: {clean(line)}", err=True)
