"""The `bevlog` command group.

Each subcommand lives in `bevlog/commands/<name>.py` and exposes `command`. A module is
imported only when its command runs or prints its own help, and it imports pandas/plotly/
torch inside its functions, so `bevlog --help` and `bevlog <command> --help` stay fast.

Exit codes are a contract with CI gates: 0 fine, 1 a finding at or above --fail-on, 2
bad usage or unreadable input. So nothing else may end with 1: Ctrl-C exits 130 with one
line, a reader that closed the pipe (`| head`) ends the command quietly with 141 (as if
killed by SIGPIPE), stdout that cannot be written (`> /dev/full`, `>&-`) is one line and
2, and an unexpected exception is one line and 2 (BEVLOG_DEBUG=1 shows the traceback).
SIGTERM and SIGHUP unwind the command like Ctrl-C (temporary files of `-o` are removed,
worker processes stopped) and then end it by that signal, as if it had not been caught.
"""

from __future__ import annotations

import errno
import importlib
import os
import signal
import sys

import click

from bevlog import __version__
from bevlog.output import guard_std_streams

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT
EXIT_PIPE_CLOSED = 141  # 128 + SIGPIPE
# errors of a write without a file name: outputs to files name theirs (bevlog.output),
# so these come from stdout
WRITE_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO, errno.EBADF}
STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)

# name -> (module, the first sentence of its help). `bevlog --help` lists the commands from
# these sentences rather than importing eight command modules for one line each, which
# costs more than the interpreter's own start; tests/test_cli_startup.py holds the listing
# to what the commands' own help gives. The order here is the order in `bevlog --help`.
COMMANDS = {
    "parse": ("bevlog.commands.parse", "Read training logs and summarise each run."),
    "compare": (
        "bevlog.commands.compare",
        "Compare runs fairly on one x axis: the settings that differ, then per metric final/best values, "
        "values at common checkpoints, noise normalised by √(batch × logging interval), late slope, "
        "a sparkline, and a verdict naming the likely cause.",
    ),
    "diagnose": ("bevlog.commands.diagnose", "Find what went wrong in each run and say how to fix it."),
    "report": (
        "bevlog.commands.report",
        "Write an interactive HTML report: run table, the settings that differ, the compare table and "
        "verdict, findings, total loss (raw and smoothed), loss components, per-decoder-layer losses, lr, "
        "grad_norm and evaluation metrics, all on one x axis with one colour per run; runs that differ "
        "only in their seed drawn as one group (mean ± sd).",
    ),
    "watch": (
        "bevlog.commands.watch",
        "Follow LOG while it is being written; print each new finding once (Ctrl-C to stop).",
    ),
    "validate": (
        "bevlog.commands.validate",
        "Regenerate RUN and the suggested fix on bevdetr (a proxy of your model), diagnose both, and say "
        "per finding: confirmed, not reproduced, fix did not help, or inconclusive.",
    ),
    "index": (
        "bevlog.commands.index",
        "Index the runs under WORK_DIRs into a catalog: runs, verdicts, findings and evaluations in an "
        "embedded DuckDB database, every run's tidy frames as a hive-partitioned Parquet dataset beside it.",
    ),
    "runs": (
        "bevlog.commands.runs",
        "List indexed runs, newest first, filtered by verdict, rule, model, name, date and metric.",
    ),
}


class _Stop(Exception):
    """Ends the command with `code` after `line` (if any) went to stderr."""

    def __init__(self, code: int, line: str | None = None, drop_stdout: bool = False):
        super().__init__(line)
        self.code, self.line, self.drop_stdout = code, line, drop_stdout


class _Terminated(BaseException):
    """SIGTERM or SIGHUP arrived: unwind (finally blocks run), then die by the signal."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def _raise_terminated(signum, frame):
    raise _Terminated(signum)


class LazyGroup(click.Group):
    def list_commands(self, ctx):
        return list(COMMANDS)

    def get_command(self, ctx, name):
        if name not in COMMANDS:
            return None
        module, _summary = COMMANDS[name]
        return importlib.import_module(module).command

    def format_commands(self, ctx, formatter):
        """The command list as click's own would print it, from the sentences in COMMANDS."""
        limit = formatter.width - 6 - max(map(len, COMMANDS))
        rows = [
            (name, click.Command(name, help=summary).get_short_help_str(limit))
            for name, (_module, summary) in COMMANDS.items()
        ]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def invoke(self, ctx):
        """Run the subcommand; turn what click would report as exit 1 into our codes.
        (click's own handling gives KeyboardInterrupt and EPIPE exit code 1.)"""
        try:
            result = super().invoke(ctx)
            if sys.stdout is not None:
                sys.stdout.flush()  # a full disk or a closed pipe shows here, not at exit
            return result
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except KeyboardInterrupt:
            raise _Stop(EXIT_INTERRUPTED, "interrupted") from None
        except OSError as exc:
            if exc.errno == errno.EPIPE:
                raise _Stop(EXIT_PIPE_CLOSED, drop_stdout=True) from None
            if exc.filename:
                raise _Stop(EXIT_USAGE, f"{exc.filename}: {exc.strerror or exc}") from None
            if exc.errno in WRITE_ERRORS:  # stdout (`> /dev/full`): not to be flushed again at exit
                raise _Stop(EXIT_USAGE, f"stdout: cannot write: {exc.strerror or exc}", drop_stdout=True) from None
            raise _Stop(EXIT_USAGE, f"{exc.strerror or exc}") from None
        except Exception as exc:  # noqa: BLE001 - the last resort: never a traceback, never exit 1
            if os.environ.get("BEVLOG_DEBUG"):
                raise
            from parsers import exception_line

            raise _Stop(
                EXIT_USAGE, f"internal error ({exception_line(exc)}); BEVLOG_DEBUG=1 shows the traceback"
            ) from None

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        guard_std_streams()
        old = _catch_stop_signals()
        try:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        except _Terminated as term:
            _silence_stdout()
            for s, handler in old.items():
                signal.signal(s, handler)
            signal.signal(term.signum, signal.SIG_DFL)
            os.kill(os.getpid(), term.signum)
            raise SystemExit(128 + term.signum) from None  # where the signal cannot end us
        except _Stop as stop:
            if stop.line:
                from bevlog.output import error

                try:
                    error(stop.line)
                except OSError:
                    pass
            if stop.drop_stdout:
                _silence_stdout()
            if not standalone_mode:
                return stop.code
            sys.exit(stop.code)
        finally:
            for s, handler in old.items():
                signal.signal(s, handler)


def _catch_stop_signals() -> dict:
    """SIGTERM/SIGHUP raise `_Terminated` (main thread only: CliRunner may run us elsewhere)."""
    old = {}
    try:
        for s in STOP_SIGNALS:
            old[s] = signal.signal(s, _raise_terminated)
    except ValueError:
        pass
    return old


def _silence_stdout() -> None:
    """After stdout failed (its reader went away, its disk is full), the interpreter's
    final flush must not complain ("Exception ignored … BrokenPipeError", exit 120):
    point stdout at /dev/null."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.close(devnull)
    except OSError:
        pass


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="bevlog")
def cli():
    """Read, compare and diagnose training logs of DETR-family detectors: mmcv 1.x and
    mmengine runners, DETR-style log.txt and MetricLogger consoles, detectron2/detrex,
    TensorBoard event files, ultralytics results.csv."""
