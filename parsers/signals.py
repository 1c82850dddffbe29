"""Stop signals held back over a few lines that must not be cut in the middle.

`signals_held()`: SIGINT, SIGTERM and SIGHUP arriving in the block are recorded, and
delivered to the handlers they had once the block ends. Used where a signal landing inside
would be lost or leave something behind:
- forking worker processes (parsers.pool): a fork runs at-fork hooks (logging's lock
  release among them), and an exception raised inside one is printed and dropped by the
  interpreter, so Ctrl-C landing there let the command run to its end and exit 0;
- creating an output's temporary file (bevlog.output): the caller's `finally` removes it
  only once it is known.

A handler swap, not a signal mask: another thread (a BLAS pool) would take a masked signal,
and Python would still run its handler in the block. Python runs signal handlers in the
main thread and only the main thread can swap them; elsewhere the block holds nothing.
"""

from __future__ import annotations

import signal

STOP_SIGNALS = tuple(s for s in (signal.SIGINT, getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None)) if s)


class signals_held:
    """`with signals_held(): …` (see the module docstring)."""

    def __enter__(self):
        self.old: dict = {}
        self.got: list[int] = []
        try:
            for s in STOP_SIGNALS:
                self.old[s] = signal.signal(s, self._record)
        except ValueError:  # not the main thread: nothing to hold
            pass
        return self

    def _record(self, signum, frame):
        self.got.append(signum)

    def __exit__(self, *exc):
        for s, handler in self.old.items():
            signal.signal(s, handler)
        for signum in dict.fromkeys(self.got):
            signal.raise_signal(signum)  # the restored handler runs now, outside the block
        return False
