"""Map a function over many inputs in worker processes, with a progress bar on stderr.

Used by `parsers.reader.map_jobs` (reading logs, and diagnosing them where they are read).
A single item, one job, or anything read from stdin stays in this process. The bar
(rich, imported only when it is shown) goes to stderr.
"""
from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from typing import Callable, Iterable

MIN_ITEMS_FOR_POOL = 5  # below this, starting the processes costs more than it saves


def default_jobs(n_items: int, jobs: int | None = None) -> int:
    """Worker processes for `n_items` runs: `jobs` when asked for, else one per core (at
    most one per run) once there are MIN_ITEMS_FOR_POOL runs. It follows the runs found,
    not the PATH arguments: one work dir can hold thousands of runs."""
    if jobs is not None:
        return jobs
    if n_items < MIN_ITEMS_FOR_POOL:
        return 1
    return max(1, min(os.cpu_count() or 1, n_items))


def map_with_progress(fn, items: list, jobs: int, progress: bool, label: str,
                      in_process: bool = False, preload: Callable[[], None] | None = None) -> list:
    """[fn(item) for item in items], in `jobs` processes unless in_process.

    `preload` runs here before the pool starts, so that forked workers inherit what it
    imports (pandas, the rules) instead of each paying for it.
    """
    if jobs <= 1 or len(items) <= 1 or in_process:
        return list(_with_progress(map(fn, items), len(items), progress, label))
    if preload is not None:
        preload()
    chunk = max(1, len(items) // (jobs * 8))
    pool = ProcessPoolExecutor(max_workers=jobs, initializer=_ignore_sigint)
    try:
        results = list(_with_progress(pool.map(fn, items, chunksize=chunk), len(items), progress, label))
    except BaseException:  # Ctrl-C (or a failure): stop now, not after the queued work
        _terminate(pool)
        raise
    pool.shutdown()
    return results


def _ignore_sigint() -> None:
    """Workers leave Ctrl-C to the parent (which stops them): a terminal sends SIGINT to
    the whole process group, and each worker would print its own traceback."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _terminate(pool: ProcessPoolExecutor) -> None:
    processes = list((getattr(pool, "_processes", None) or {}).values())  # no public way before 3.14
    pool.shutdown(wait=False, cancel_futures=True)
    for p in processes:
        p.terminate()
    for p in processes:
        p.join(timeout=5)


def _with_progress(iterator: Iterable, total: int, enabled: bool, label: str):
    if not enabled:
        yield from iterator
        return
    from rich.console import Console
    from rich.progress import Progress

    with Progress(console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(label, total=total)
        for item in iterator:
            bar.advance(task)
            yield item
