"""A JSON-lines log read piece by piece (`parsers.follow`): every line is a whole record, so a
piece may end at any line end, and a growing log is read for good up to its last complete
line.

Launches: mmcv writes a meta line first (the run's `env_info`/`config`, or a resumed run's
checkpoint meta with `mmcv_version`); a script re-run with the same work dir and file name
appends its launch to the same `.log.json`. Every meta line after a launch's first line
begins a new launch: each is a Segment with its own config, and which of them are one run
is decided from the evidence, as for any launches (`parsers.identity`). mmengine writes one
`vis_data` file per launch; its `config.py` beside the file is the first launch's config.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from parsers.follow import Part, count_lines, prepared_result
from parsers.formats.jsonl.reader import NO_MODE, check_rows, read_json, scan_json
from parsers.segment import Segment, shift_lines

META_KEYS = (b'"env_info"', b'"mmcv_version"', b'"exp_name"', b'"config"', b'"hook_msgs"')


@dataclass
class _State:
    launches: int = 0  # launches begun
    pieces: int = 0  # parts read of the launch being read
    runner: str | None = None  # the launch's runner, as its rows showed it


class JsonFollower:
    """The pieces of one JSON-lines log of `library` (mmcv | mmengine)."""

    def __init__(self, source: str, library: str, engine: str = "fast", chunk: int | None = None, config_beside=None):
        self.source, self.library, self.engine, self.chunk = source, library, engine, chunk
        self.config_beside = config_beside  # Segment -> Segment: the config file beside the log
        self.st = _State()
        self._snapshots: list[_State] = []
        self._ready: tuple | None = None  # (bytes, their `scan_json`, or None)

    def normalize(self, data):
        return data

    def piece_end(self, data) -> int:
        return len(data)

    def commit_end(self, data) -> int:
        return len(data)

    def state(self) -> Any:
        return copy.deepcopy(self.st)

    def set_state(self, state: Any) -> None:
        self.st = state

    def rewind(self, launch: int, facts: dict[str, Any]) -> None:
        self.st = copy.deepcopy(self._snapshots[launch])
        del self._snapshots[launch + 1 :]

    def prepare(self, data) -> Callable[[], Any]:
        """`scan_json` of a piece read next."""
        engine, chunk = self.engine, self.chunk
        return lambda: scan_json(data, engine, chunk)

    def read(self, data, first_line: int, prepared: Future | None = None) -> list[Part]:
        self._ready = None if prepared is None else (data, prepared_result(prepared))
        if not self.st.launches:
            self._begin()
        whole = self._parse(data, self.st.pieces == 0)
        starts = self._launch_starts(data, whole)
        bounds = [0] + [s for s in starts if s > 0] + [len(data)]
        out = []
        line = first_line
        for k in range(len(bounds) - 1):
            a, b = bounds[k], bounds[k + 1]
            begins = k > 0 or 0 in starts
            if begins:
                self._begin()
            first = self.st.pieces == 0
            self.st.pieces += 1
            if (a, b) == (0, len(data)) and not begins:
                seg, part = whole, data
            else:
                part = data[a:b]
                seg = self._parse(part, first)
            out.append(Part(shift_lines(seg, line), begins, a))
            if k < len(bounds) - 2:  # the next part's first line (the loader counts the piece's)
                line += count_lines(part)
        return out

    def _begin(self) -> None:
        self.st.launches += 1
        self.st.pieces = 0
        self.st.runner = None
        self._snapshots[self.st.launches - 1 :] = [copy.deepcopy(self.st)]

    def _parse(self, data, meta_first: bool) -> Segment:
        scanned = self._scanned(data)
        seg = read_json(self.source, [data], self.library, self.engine, self.chunk, meta_first, self.st.runner, scanned)
        self.st.runner = seg.runner or self.st.runner
        return seg

    def _scanned(self, data):
        """The prepared scan of `data` (the piece read whole), else None."""
        ready, self._ready = self._ready, None
        return ready[1] if ready is not None and ready[0] is data else None

    def _launch_starts(self, data, seg: Segment) -> list[int]:
        """Offsets of the meta lines that begin a launch (mmcv rows without `mode` are looked
        at only when the piece holds some)."""
        if self.library != "mmcv" or not seg.skipped.get(NO_MODE):
            return []
        raw = bytes(data)
        found = set()
        for key in META_KEYS:
            pos = raw.find(key)
            while pos >= 0:
                start = raw.rfind(b"\n", 0, pos) + 1
                end = raw.find(b"\n", pos)
                end = len(raw) if end < 0 else end
                if is_meta_line(raw[start:end]):
                    found.add(start)
                pos = raw.find(key, end)
        first_of_launch = self.st.pieces == 0
        return sorted(s for s in found if s > 0 or not first_of_launch)

    def finish(self, segments: list[Segment], reread: Any) -> list[Segment]:
        if self.config_beside is not None and segments:
            segments = [self.config_beside(segments[0])] + segments[1:]
        useful = [s for s in segments if s.rows or s.eval_metric or s.test_metrics or s.json_meta]
        if not useful:
            check_rows(self.source, segments[0] if segments else Segment(source=self.source))
        return segments

    def pending(self) -> None:
        return None


def is_meta_line(line: bytes) -> bool:
    """An mmcv run's meta line: a JSON object without `mode` (run meta or checkpoint meta)."""
    if b'"mode"' in line:
        return False
    try:
        obj = json.loads(line)
    except (ValueError, RecursionError):
        return False
    return isinstance(obj, dict) and "mode" not in obj and any(k.strip(b'"').decode() in obj for k in META_KEYS)
