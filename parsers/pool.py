"""Map a function over many inputs in worker processes, with a progress bar on stderr.

Used by `parsers.reader.map_jobs` (reading logs, and diagnosing them where they are read).
A single item, one job, or anything read from stdin stays in this process. The bar
(rich, imported only when it is shown) goes to stderr.

Isolation: an item whose work raises, or whose worker process dies (a segfault, the OOM
killer), becomes `on_crash(item, why)` — one problem for that item — and never the end of
the others. Workers die with their parent (SIGTERM, SIGHUP, SIGKILL included): nothing
started here outlives the command.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing.connection import wait
from typing import Any

from parsers.io import exception_line
from parsers.signals import signals_held

MIN_ITEMS_FOR_POOL = 5  # below this, starting the processes costs more than it saves
_PENDING = object()


def default_jobs(n_items: int, jobs: int | None = None) -> int:
    """Worker processes for `n_items` runs: `jobs` when asked for, else one per core (at
    most one per run) once there are MIN_ITEMS_FOR_POOL runs. It follows the runs found,
    not the PATH arguments: one work dir can hold thousands of runs."""
    if jobs is not None:
        return jobs
    if n_items < MIN_ITEMS_FOR_POOL:
        return 1
    return max(1, min(os.cpu_count() or 1, n_items))


def map_with_progress(
    fn,
    items: list,
    jobs: int,
    progress: bool,
    label: str,
    in_process: bool = False,
    preload: Callable[[], None] | None = None,
    on_crash: Callable[[object, str], object] | None = None,
) -> list:
    """[fn(item) for item in items], in `jobs` processes unless in_process.

    `preload` runs here before the pool starts, so that forked workers inherit what it
    imports (pandas, the rules) instead of each paying for it. `on_crash(item, why)` is the
    result of an item whose call raised or whose worker died (`why`: one line); without
    it, the exception propagates.
    """
    if jobs <= 1 or len(items) <= 1 or in_process:
        return list(_with_progress((_call(fn, item, on_crash) for item in items), len(items), progress, label))
    if preload is not None:
        preload()
    results = [_PENDING] * len(items)
    with _progress_bar(progress, label, len(items)) as advance:
        _pooled(fn, items, jobs, results, on_crash, advance)
        lost = [i for i, r in enumerate(results) if r is _PENDING]
        if lost:  # a worker died and took the pool down: each item it may have held, alone
            _isolated(fn, items, lost, jobs, results, on_crash, advance)
    return results


def _call(fn, item, on_crash):
    if on_crash is None:
        return fn(item)
    try:
        return fn(item)
    except Exception as exc:  # noqa: BLE001 - one item's failure is its own problem
        return on_crash(item, exception_line(exc))


def _pooled(fn, items, jobs, results, on_crash, advance) -> None:
    with _parent_signals_stop():
        pool = ProcessPoolExecutor(max_workers=jobs, initializer=_init_worker, initargs=(os.getpid(),))
        try:
            with signals_held():  # the first submit forks the workers
                futures = {pool.submit(fn, item): i for i, item in enumerate(items)}
            for future, i in futures.items():  # in order: results keep the items' order
                try:
                    results[i] = future.result()
                except BrokenProcessPool:
                    continue  # left _PENDING: re-run alone
                except Exception as exc:  # noqa: BLE001
                    if on_crash is None:
                        raise
                    results[i] = on_crash(items[i], exception_line(exc))
                advance()
        except BaseException:  # Ctrl-C, SIGTERM/SIGHUP (raised as KeyboardInterrupt) or a failure
            _terminate(pool)
            raise
        pool.shutdown()


def _isolated(fn, items, indices, jobs, results, on_crash, advance) -> None:
    """Each item in a process of its own (at most `jobs` at once): a death is its item's."""
    ctx = multiprocessing.get_context()
    todo = list(indices)
    running: dict[Any, tuple[int, Any]] = {}  # reader connection -> (index, process)
    with _parent_signals_stop():
        try:
            while todo or running:
                while todo and len(running) < jobs:
                    i = todo.pop(0)
                    reader, writer = ctx.Pipe(duplex=False)
                    proc = ctx.Process(target=_child, args=(fn, items[i], writer, os.getpid()), daemon=True)
                    with signals_held():
                        proc.start()
                    writer.close()
                    running[reader] = (i, proc)
                ready_ones: list[Any] = wait(list(running))
                for ready in ready_ones:
                    i, proc = running.pop(ready)
                    try:
                        ok, value = ready.recv()
                    except EOFError:
                        ok, value = False, None
                    ready.close()
                    proc.join()
                    if not ok:
                        why = value or _death_line(proc.exitcode)
                        if on_crash is None:
                            raise RuntimeError(why)
                        value = on_crash(items[i], why)
                    results[i] = value
                    advance()
        except BaseException:
            for _, proc in running.values():
                proc.terminate()
            for _, proc in running.values():
                proc.join(timeout=5)
            raise


def _child(fn, item, writer, parent: int) -> None:
    _init_worker(parent)
    try:
        out = (True, fn(item))
    except Exception as exc:  # noqa: BLE001
        out = (False, exception_line(exc))
    writer.send(out)
    writer.close()


def _death_line(exitcode) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        return f"the worker process reading it was killed ({name})"
    return f"the worker process reading it died (exit code {exitcode})"


def _init_worker(parent: int) -> None:
    """Workers leave Ctrl-C to the parent (which stops them): a terminal sends SIGINT to
    the whole process group, and each worker would print its own traceback. They die with
    the parent: the kernel sends SIGTERM when it exits, however it exits (Linux)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGHUP, signal.SIG_DFL)
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:  # the parent died before the line above took effect
        os._exit(1)


class _parent_signals_stop:
    """While workers run, SIGTERM and SIGHUP stop the parent the way Ctrl-C does (it
    terminates the workers on the way out), then re-deliver themselves so that the exit
    status still says which signal it was."""

    SIGNALS = tuple(s for s in (getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None)) if s)

    def __enter__(self):
        self.old = {}
        self.got = None
        try:
            for s in self.SIGNALS:
                self.old[s] = signal.signal(s, self._handle)
        except ValueError:  # not the main thread: the workers' death signal still holds
            self.old = {}
        return self

    def _handle(self, signum, frame):
        self.got = signum
        raise KeyboardInterrupt

    def __exit__(self, *exc):
        for s, handler in self.old.items():
            signal.signal(s, handler)
        if self.got is not None:
            os.kill(os.getpid(), self.got)  # the old (default) handler ends the process
        return False


def _terminate(pool: ProcessPoolExecutor) -> None:
    processes = list((getattr(pool, "_processes", None) or {}).values())  # no public way before 3.14
    pool.shutdown(wait=False, cancel_futures=True)
    for p in processes:
        p.terminate()
    for p in processes:
        p.join(timeout=5)


class _progress_bar:
    """A context giving `advance()`: one step of a rich bar on stderr, or nothing."""

    def __init__(self, enabled: bool, label: str, total: int):
        self.enabled, self.label, self.total = enabled, label, total

    def __enter__(self):
        if not self.enabled:
            return lambda: None
        from rich.console import Console
        from rich.progress import Progress

        self.bar = Progress(console=Console(stderr=True), transient=True)
        self.bar.__enter__()
        task = self.bar.add_task(self.label, total=self.total)
        return lambda: self.bar.advance(task)

    def __exit__(self, *exc):
        if self.enabled:
            self.bar.__exit__(*exc)
        return False


def _with_progress(iterator: Iterable, total: int, enabled: bool, label: str):
    with _progress_bar(enabled, label, total) as advance:
        for item in iterator:
            yield item
            advance()
