"""Everything bevlog prints or writes goes through here.

- `open_output(out, fmt)`: the one road of a command's data, to stdout or to the file of
  `-o`. Whatever is written passes through `bevlog.escape.ESCAPE[fmt]` (a log's control
  characters never reach a terminal) and goes out with plain `write(2)` calls, so that a
  reader that went away (`| head -1`) is always seen (EPIPE; the interpreter's buffered
  stdout can report a cut write as complete) and a closed stdout (`>&-`) is one error.
- Files (`-o`) appear whole or not at all: written to a hidden temporary file beside
  the target (`.<name>.<random>.tmp`, locked by its writer), then renamed over it
  (`os.replace`), so a killed writer leaves the previous file intact and two writers of
  one path leave one valid file. A symlink is written through (its target is replaced,
  the link stays); devices and pipes (`/dev/stdout`, `/dev/full`) are written in place.
  SIGTERM/SIGHUP/Ctrl-C remove the temporary file on the way out (bevlog.cli turns them
  into exceptions); a writer killed with SIGKILL cannot, so every write to a target first
  removes the temporary files of that target whose writer is gone (no lock held on them).
- `error(line)`, `note(line)`, `say(line)`: one line on stderr, log text made visible.
- `BadInput`, `OutputError`: what a command cannot do, as one line with exit code 2.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import io
import os
import re
import stat
import sys
import tempfile

import click

from bevlog.escape import ESCAPE, clean
from parsers import signals_held

CHUNK = 1 << 16  # bytes collected before a write(2)
_stdout_closed = False  # set by `guard_std_streams` when the command started with fd 1 closed


class BadInput(click.ClickException):
    """Input or usage a command cannot work with: one cleaned line, exit code 2."""

    exit_code = 2

    def show(self, file=None):
        error(self.message)


class OutputError(BadInput):
    """Writing an output failed: one line, exit code 2 (bad input/usage, not findings)."""


def cannot_write(path, exc: OSError, what: str = "") -> OutputError:
    return OutputError(f"{path}: cannot write{' ' + what if what else ''}: {exc.strerror or exc}")


# ---- stderr --------------------------------------------------------------------------


def error(line: str) -> None:
    """One `error: …` line on stderr (log-derived text cleaned)."""
    click.echo(f"error: {clean(line)}", err=True)


def note(line: str) -> None:
    """One `note: …` line on stderr: something skipped or decided that is not an error."""
    click.echo(f"note: {clean(line)}", err=True)


def say(line: str) -> None:
    """One line of progress on stderr (`wrote report.html …`)."""
    click.echo(clean(line), err=True)


# ---- stdout and -o -------------------------------------------------------------------


def guard_std_streams() -> None:
    """A command started with stdin, stdout or stderr closed (`>&-`): put /dev/null on that
    descriptor, so that no file bevlog opens later lands on fd 1 and receives the output.
    Data for a closed stdout is then an error (EBADF, one line and exit 2); a command
    that writes only to `-o` is not affected."""
    global _stdout_closed
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            null = os.open(os.devnull, os.O_RDWR)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)
            if fd == 1:
                _stdout_closed = True


def stdout_is_terminal() -> bool:
    stream = sys.stdout
    try:
        return stream is not None and stream.isatty()
    except (AttributeError, ValueError):
        return False


def _stdout_fd() -> int | None:
    """fd 1 when sys.stdout is the process's stdout; None when it was replaced by an
    in-memory stream (click's CliRunner, pytest's capsys), which is then written to."""
    try:
        return sys.stdout.fileno()
    except (AttributeError, ValueError, io.UnsupportedOperation):
        return None


class _Writer(io.TextIOBase):
    """A text stream: escapes what it is given (`escape`), encodes it as UTF-8 and hands
    it to `sink(bytes)` in chunks."""

    def __init__(self, sink, escape):
        super().__init__()
        self._sink, self._escape = sink, escape
        self._parts: list[bytes] = []
        self._size = 0
        self.bytes_written = 0

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        data = self._escape(text).encode("utf-8", errors="surrogateescape")
        self._parts.append(data)
        self._size += len(data)
        if self._size >= CHUNK:
            self.flush()
        return len(text)

    def flush(self) -> None:
        if self._parts:
            data = b"".join(self._parts)
            self._parts, self._size = [], 0
            self._sink(data)
            self.bytes_written += len(data)


def _write_all(fd: int, data: bytes) -> None:
    """All of `data` to `fd` with write(2) until done: EPIPE, ENOSPC … raise OSError."""
    view = memoryview(data)
    while view:
        n = os.write(fd, view[: 1 << 20])
        view = view[n:]


def _write_stdout(data: bytes) -> None:
    if _stdout_closed or sys.stdout is None:
        raise OSError(errno.EBADF, os.strerror(errno.EBADF))
    fd = _stdout_fd()
    if fd is not None:
        _write_all(fd, data)
        return
    buffer = getattr(sys.stdout, "buffer", None)
    if buffer is not None:
        buffer.write(data)
    else:
        sys.stdout.write(data.decode("utf-8", errors="surrogateescape"))
    sys.stdout.flush()


@contextlib.contextmanager
def open_output(out=None, fmt: str = "text", what: str = ""):
    """A text stream for a command's data in format `fmt` (a key of bevlog.escape.ESCAPE):
    stdout when `out` is None or '-', else the file `out`, written atomically. Write
    errors on `out` become an OutputError naming it; on stdout they propagate (bevlog.cli
    turns EPIPE into exit 141, others into one line and exit 2)."""
    escape = ESCAPE[fmt]
    if out is None or out == "-":
        if sys.stdout is not None:
            sys.stdout.flush()  # anything printed before keeps its place
        writer = _Writer(_write_stdout, escape)
        try:
            yield writer
        finally:  # what was written before an early exit (ctx.exit, Ctrl-C) still goes out
            writer.flush()
        return
    with atomic_path(out, what) as tmp:
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o666)
        except OSError as exc:
            raise cannot_write(out, exc, what) from None
        try:
            writer = _Writer(lambda data: _write_all(fd, data), escape)
            yield writer
            writer.flush()
            if stat.S_ISREG(os.fstat(fd).st_mode):
                os.fsync(fd)  # whole on disk before the rename makes it visible
        except OSError as exc:
            raise cannot_write(out, exc, what) from None
        finally:
            os.close(fd)


def write_atomic(path, data: str, fmt: str = "text", what: str = "") -> int:
    """Write `data` to `path` (escaped for `fmt`) atomically; returns the bytes written.
    `what` ('the report') goes into the error line."""
    with open_output(path, fmt, what) as f:
        f.write(data)
        f.flush()
        return f.bytes_written


@contextlib.contextmanager
def atomic_path(path, what: str = ""):
    """Yield a temporary path beside `path`; when the block succeeds it replaces `path`
    (the file a symlink points to, for a symlink). For binary writers (parquet); text goes
    through `open_output`.

    Any OSError (no such directory, read-only, disk full) becomes an OutputError naming
    `path`. The temporary file is removed when the block fails or is interrupted."""
    shown = os.fspath(path)
    if _is_special(shown):
        try:
            yield shown
        except OSError as exc:
            raise cannot_write(shown, exc, what) from None
        return
    target = os.path.realpath(shown)  # through symlinks: the link stays a link
    made: list = []  # (fd, path) of the temporary file, once it exists
    try:
        _locked_temp(target, made)
        fd, tmp = made[0]
        yield tmp
        os.chmod(tmp, _mode_for(target))
        os.replace(tmp, target)
    except OSError as exc:
        raise cannot_write(shown, exc, what) from None
    finally:
        for fd, tmp in made:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            os.close(fd)


def _temp_pattern(target: str) -> re.Pattern:
    return re.compile(rf"^\.{re.escape(os.path.basename(target))}\.[A-Za-z0-9_]{{8}}\.tmp$")


def _locked_temp(target: str, made: list) -> None:
    """A new temporary file for `target`, locked (flock) for as long as its writer lives
    (the lock is how a later writer tells a live temporary file from a dead one's), put
    into `made` as (fd, path). SIGINT/SIGTERM/SIGHUP wait until it is in `made`: the
    caller's `finally` then removes it, wherever the signal lands."""
    directory, name = os.path.split(target)
    _remove_stale_temps(directory, target)
    with signals_held():
        while True:
            fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{name}.", suffix=".tmp")
            fcntl.flock(fd, fcntl.LOCK_EX)
            if os.fstat(fd).st_nlink:  # not swept away between mkstemp and flock
                made.append((fd, tmp))
                return
            os.close(fd)


def _remove_stale_temps(directory: str, target: str) -> None:
    """Remove the temporary files of `target` that no writer holds (a SIGKILLed writer's)."""
    pattern = _temp_pattern(target)
    try:
        names = [n for n in os.listdir(directory) if pattern.match(n)]
    except OSError:
        return
    for name in names:
        path = os.path.join(directory, name)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if stat.S_ISREG(os.fstat(fd).st_mode):
                os.unlink(path)
        except OSError:  # locked: a live writer's
            pass
        finally:
            os.close(fd)


def _is_special(path: str) -> bool:
    """A device, pipe or socket, or a name for a descriptor (/dev/stdout, /dev/fd/3,
    /proc/self/fd/1, whatever it points to): it cannot be renamed over, it is written in
    place. (/dev/shm holds ordinary files.)"""
    where = os.path.abspath(path)
    if where.startswith("/proc/") or (where.startswith("/dev/") and not where.startswith("/dev/shm/")):
        return True
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
