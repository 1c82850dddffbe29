"""A one-line progress bar on stderr, drawn only when stderr is a terminal (never in the log)."""

from __future__ import annotations

import sys
import time


class ProgressBar:
    def __init__(self, total: int, enabled: bool | None = None, stream=None, initial: int = 0):
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.total = max(total, 1)
        self.start = time.time()
        self.initial = self.done = initial

    def update(self, done: int, text: str = "") -> None:
        if not self.enabled:
            return
        self.done = done
        frac = min(done / self.total, 1.0)
        width = 24
        filled = int(frac * width)
        rate = (done - self.initial) / max(time.time() - self.start, 1e-9)
        bar = "█" * filled + "░" * (width - filled)
        self.stream.write(f"\r{bar} {done}/{self.total} {rate:5.1f} it/s {text}\033[K")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()
