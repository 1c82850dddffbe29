"""Following a log while it is being written (`bevlog watch`): when to read, when to judge.

Reading is the parsers' (`parsers.LiveLog`: only what was appended since the last poll;
a replaced or truncated file, known by its device, inode and first bytes, is read again
from its start; a partial last line waits, read once). This module schedules: a newer
timestamped log beside the followed one is followed (mmcv starts `<work_dir>/<new ts>.log`
on a restart, mmengine `<work_dir>/<new ts>/<new ts>.log`); the rules run with the run
marked live (so "stopped before the end" is not reported while it is still going; see
`Watcher` for which rules run on every poll), and each finding is kept once (`finding_key`).
"""

from __future__ import annotations

import errno
import os
import threading
import time

import parsers
from bevlog.diagnose import diagnose_run

# rules whose findings are separate events (one per step), not one state of the run
EVENT_RULES = {"grad-spike", "lr-drop", "nonfinite-loss"}
# rules the quick pass runs on the newest rows between full passes: a nan/inf is a fact of
# the rows themselves, which a window of the run judges as the whole run would
QUICK_RULES = ("nonfinite-loss", "grad-nonfinite")
CONTEXT_ROWS = 200


def finding_key(finding) -> tuple:
    kind = finding.evidence.get("kind") if isinstance(finding.evidence, dict) else None
    anchor = finding.start_step if finding.rule in EVENT_RULES else None
    return (finding.run, finding.rule, finding.severity, kind, anchor)


class Watcher:
    """The state of one `bevlog watch`: which file, what was read of it, what it printed.

    Each poll reads only the lines appended since the last one (parsers.LiveLog). All
    rules run on the whole run (the full pass) when the last one started at least
    `full_every` seconds ago (None: four times as long as that pass took, so that on a
    huge log full passes take at most a quarter of the time). With `background` the full pass runs in a
    thread on a snapshot of the rows and its findings are printed by the poll after it
    ends, while each poll runs the quick pass: QUICK_RULES on the new rows (with
    CONTEXT_ROWS rows before them), printing only findings that start in the new rows, so
    a nan/inf is printed within a poll even while a long full pass runs. Both passes mark
    the run live; a finding is printed once (`finding_key`).
    """

    def __init__(
        self,
        path: str,
        rules: list[str] | None,
        follow_rotation: bool = True,
        full_every: float | None = None,
        background: bool = False,
    ):
        self.folder = path if os.path.isdir(path) else None  # a work dir: follow its newest log
        self.path = path
        self.rules = rules
        self.follow_rotation = follow_rotation
        self.full_every = full_every
        self.background = background
        self.seen: set[tuple] = set()
        self.live = None  # the log being read (parsers.LiveLog), once it exists
        self.refused = False  # the log can never be read (a device, over the input cap): stop
        self._restart()

    def _restart(self) -> None:
        self.last_full = None  # monotonic time the last full pass started
        self.full_cost = 0.0  # seconds the last full pass took
        self.unseen = False  # lines read that no full pass has seen yet
        self.rows_quick = 0  # rows of the launch being written that the quick pass has looked at
        self.launch_quick = -1  # that launch (a nohup.out holds several)
        self.running = None  # the background full pass: {"thread", "findings", "error"}

    def _follow(self, path: str) -> None:
        self.path = path
        self.live = None
        self._restart()

    def _current(self, notes: list) -> str | None:
        """Move to the log to follow now (a work dir's newest log, a newer rotation);
        the error that stops reading, or None."""
        if self.folder:
            newest = parsers.newest_log_in(self.folder)
            if newest is None:
                return f"{self.folder}: no training log in this directory yet"
            if newest != self.path:
                if self.path != self.folder:
                    notes.append(f"now following {newest} (a newer log appeared)")
                self._follow(newest)
        elif self.follow_rotation:
            newer = parsers.newest_sibling(self.path)
            if newer != os.path.abspath(self.path) and newer != self.path:
                notes.append(f"now following {newer} (a newer log appeared)")
                self._follow(newer)
        return None

    def read_once(self) -> tuple[list, list[str], str | None]:
        """`--once`: the run the log belongs to, read whole by the road every command takes
        (`parsers.read(path, beside=True)`), judged as live; (findings, notes, error)."""
        notes: list = []
        error = self._current(notes)
        if error:
            return [], notes, error
        try:
            run = parsers.read(self.path, beside=True)
        except parsers.ParseError as exc:
            return [], notes, str(exc)
        return self._keep_new(diagnose_run(run, self.rules, live=True)), notes, None

    def poll(self) -> tuple[list, list[str], str | None]:
        """(new findings, notes for stderr, the error that stops reading or None)."""
        notes = []
        error = self._current(notes)
        if error:
            return [], notes, error
        if self.live is None:  # the readers are loaded once there is a log to read
            if not os.path.exists(self.path):
                return [], notes, f"{self.path}: {os.strerror(errno.ENOENT)}"
            self.live = parsers.LiveLog(self.path)
        try:
            replaced = self.live.replacements
            grew = self.live.update()
        except parsers.ParseError as exc:
            self.refused = exc.refused
            return [], notes, str(exc)
        if self.live.replacements != replaced:
            # a new file under the same name (a relaunch, copytruncate): a new run, judged anew
            notes.append(f"{self.path} was replaced or truncated: reading it again from its start")
            self._restart()
            self.seen.clear()
        if not self.live.started:  # not one complete line yet
            why = "no log line yet" if self.live.offset or _size(self.path) else "empty file"
            return [], notes, f"{self.path}: {why}"
        self.unseen |= grew
        fresh = self._finished_full_pass()
        if self.unseen and self.running is None and self._full_due():
            segments = self._begin_full_pass()
            if not self.background:
                return self._keep_new(fresh + self._full_pass(self.live, segments)), notes, None
            self._start_full_pass(segments)
        if grew:
            fresh += self._quick_pass()
        return self._keep_new(fresh), notes, None

    def _begin_full_pass(self) -> list:
        """The rows the full pass will judge (a snapshot); what it covers is marked seen."""
        first = self.last_full is None
        self.last_full = time.monotonic()
        self.unseen = False
        if first or not self.background:
            self.rows_quick, self.launch_quick = self.live.rows, self.live.launch  # the quick pass goes on from here
        return self.live.snapshot()

    def _full_due(self) -> bool:
        if self.last_full is None:
            return True
        wait = self.full_every if self.full_every is not None else 4 * self.full_cost
        return time.monotonic() - self.last_full >= wait

    def _full_pass(self, live, segments) -> list:
        t = time.monotonic()
        findings = diagnose_run(live.run(segments), self.rules, live=True)
        self.full_cost = time.monotonic() - t
        return findings

    def _start_full_pass(self, segments) -> None:
        job: dict = {}
        live = self.live

        def work():
            try:
                job["findings"] = self._full_pass(live, segments)
            except Exception as exc:  # raised again by the poll that collects it
                job["error"] = exc

        job["thread"] = threading.Thread(target=work, daemon=True)  # Ctrl-C does not wait for it
        self.running = job
        job["thread"].start()

    def _finished_full_pass(self) -> list:
        job = self.running
        if job is None or job["thread"].is_alive():
            return []
        self.running = None
        if "error" in job:
            raise job["error"]
        return job["findings"]

    def _quick_pass(self) -> list:
        rules = [r for r in (self.rules or QUICK_RULES) if r in QUICK_RULES]
        since = self.rows_quick if self.live.launch == self.launch_quick else 0  # a new launch: all new
        self.rows_quick, self.launch_quick = self.live.rows, self.live.launch
        if not rules:
            return []
        run, first_new = self.live.tail_run(CONTEXT_ROWS, since)
        if run is None or first_new is None:
            return []
        return [
            f for f in diagnose_run(run, rules, live=True) if f.start_step is not None and f.start_step >= first_new
        ]

    def _keep_new(self, findings) -> list:
        fresh = []
        for f in findings:
            key = finding_key(f)
            if key not in self.seen:
                self.seen.add(key)
                fresh.append(f)
        return fresh


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0
