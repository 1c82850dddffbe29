"""Finding log files and grouping them into runs; naming runs; the log of a work dir to
follow.

Rules (a "stem" is a file name without `.gz`, `.json`, `.log` suffixes):
- Candidate files: names some format of `parsers.formats.FORMATS` looks at (`*.log`,
  `*.json`, `*.txt`, `*.out`, optionally `.gz`), whose content a format recognises.
  Directories are searched recursively; hidden directories are skipped.
- Run of a file, and its name:
  * mmengine `<wd>/<ts>/<ts>.log`, `<wd>/<ts>/vis_data/scalars.json`,
    `<wd>/<ts>/vis_data/<ts>.json` -> run `<wd>` (every `<ts>`, i.e. every resume, is a
    segment of it); name = `<wd>`'s name.
  * mmcv `<wd>/<YYYYmmdd_HHMMSS>.log[.json]` (stem is a bare timestamp) -> run `<wd>`.
  * wandb `<…>/run-<ts>-<id>/files/output.log` -> run `run-<ts>-<id>`.
  * TensorBoard `<dir>/events.out.tfevents.*` -> run `<dir>`, each file (a launch) a
    segment of it.
  * detectron2 `<dir>/metrics.json`, with its console `log.txt` and its event files beside
    it -> run `<dir>`: one segment, read from `log.txt` (the clock, the arguments, how each
    launch ended, evaluations) with metrics.json and the event files as its twins, listed
    as not read (the same records); metrics.json is read when there is no log.txt.
  * otherwise the directory plus the stem without a trailing timestamp
    (`exp__20230727_114037.log` -> `exp`): files differing only by timestamp are
    segments (resumes) of one run.
- Segment of a file: the timestamp (or stem); `X.log` and `X.log.json`, or
  `<ts>/<ts>.log` and its `vis_data/*.json`, are twins: one segment, its rows taken once
  from the text file (timestamps, header, eta, a 4-significant-digit lr), with loss values
  refined from the json twin where it carries more digits (mmcv json: 5 decimals vs the
  text's 4; mmengine json: full precision) — see `parsers.twins`. A json alone is read
  when there is no text twin.
- Groups come out sorted by run directory and name; files in a group by segment.
- These groups are candidates: `parsers.identity` splits one into several runs unless the
  logs carry evidence (a resume record, or steps that continue) that they are one.
- Following a run (`bevlog watch`): a work dir's newest log is its latest `<ts>.log`
  (mmcv) or `<ts>/<ts>.log` (mmengine); a restart writes a newer one beside the followed
  log (`newest_log_in`, `newest_sibling`).
"""

from __future__ import annotations

import glob
import os
import re
import stat

from parsers.formats import detect_file, is_candidate
from parsers.io import STDIN
from parsers.patterns import BARE_TIMESTAMP, TIMESTAMP
from parsers.run import ParseError

_TRAILING_TS = re.compile(rf"[_\-. ]*{TIMESTAMP}$")
EVENTS_PREFIX = "events.out.tfevents."  # TensorBoard: one file per launch (writer) in a run's folder
DETECTRON2_FILES = ("metrics.json", "log.txt")  # with the events files: detectron2's output folder
# a runner's own log name: `<ts>.log`, `<ts>.log.json` (mmcv), `vis_data/<ts>.json` (mmengine)
STAMPED_LOG = re.compile(rf"^({TIMESTAMP})(\.log|\.log\.json|\.json)(\.gz)?$")


def stem(path: str) -> str:
    name = os.path.basename(path)
    changed = True
    while changed:
        changed = False
        for suf in (".gz", ".json", ".log", ".txt"):
            if name.endswith(suf) and len(name) > len(suf):
                name = name[: -len(suf)]
                changed = True
    return name


def run_key(path: str) -> tuple[str, str, str]:
    """(run directory, run name, segment key) of a log file."""
    if path == STDIN:
        return ("", "stdin", "stdin")
    p = os.path.abspath(path)
    d = os.path.dirname(p)
    s = stem(p)
    parent = os.path.basename(d)
    if parent == "vis_data":
        ts_dir = os.path.dirname(d)
        wd = os.path.dirname(ts_dir)
        if BARE_TIMESTAMP.match(os.path.basename(ts_dir)):
            return (wd, _name_of_dir(wd), ts_dir)
        # `<dir>/<ts>.log` beside `<dir>/vis_data/<ts>.json` (a renamed `<ts>` dir): twins
        return (ts_dir, _name_of_dir(ts_dir), os.path.join(ts_dir, _vis_data_stamp(d, s) or "vis_data"))
    if s == parent and BARE_TIMESTAMP.match(s):
        wd = os.path.dirname(d)
        return (wd, _name_of_dir(wd), d)
    if BARE_TIMESTAMP.match(s):
        return (d, _name_of_dir(d), os.path.join(d, s))
    if s == "output" and parent == "files":
        run_dir = os.path.dirname(d)
        return (run_dir, _name_of_dir(run_dir), run_dir)
    base = os.path.basename(p)
    if base in DETECTRON2_FILES or base.startswith(EVENTS_PREFIX):
        if os.path.isfile(os.path.join(d, "metrics.json")):
            return (d, _name_of_dir(d), os.path.join(d, "detectron2"))
        if base.startswith(EVENTS_PREFIX):
            return (d, _name_of_dir(d), p)
    name = _TRAILING_TS.sub("", s) or s
    return (d, name, os.path.join(d, s))


def _vis_data_stamp(vis_data: str, s: str) -> str | None:
    """The launch stamp of a vis_data file: its own stem, or for `scalars.json` the stem of
    the one `<ts>.json` beside it."""
    if BARE_TIMESTAMP.match(s):
        return s
    try:
        stamps = {stem(f) for f in os.listdir(vis_data) if BARE_TIMESTAMP.match(stem(f))}
    except OSError:
        return None
    return stamps.pop() if len(stamps) == 1 else None


def run_name(path: str) -> str:
    return run_key(path)[1]


def _name_of_dir(d: str) -> str:
    return os.path.basename(d.rstrip(os.sep)) or d


def find_logs(root: str, notes: list | None = None, problems: list | None = None) -> list[str]:
    """Log files under `root`. Files that are not regular files (a FIFO named `x.log`,
    which would block a read forever; a socket) are skipped, and so are empty files and
    binary data under a log's name, each with a line in `notes`. A candidate that cannot be
    opened is kept, so that reading it names the file and the reason instead of the run
    vanishing from a CI gate; a directory that cannot be read is a line in `problems`."""
    out = []

    def unreadable(err: OSError) -> None:
        if problems is not None:
            where = err.filename or root
            problems.append(ParseError(where, f"cannot read this directory: {err.strerror or err}"))

    for d, dirs, files in os.walk(root, onerror=unreadable):
        dirs[:] = sorted(x for x in dirs if not x.startswith("."))
        for f in sorted(files):
            p = os.path.join(d, f)
            if not is_candidate(p):
                continue
            try:
                mode = os.stat(p).st_mode
            except OSError:  # a dangling link: a log that should be there; reading it says so
                out.append(p)
                continue
            if not stat.S_ISREG(mode):
                if notes is not None:
                    notes.append(f"{p}: skipped, not a regular file ({_file_kind(mode)})")
                continue
            try:
                kind = detect_file(p)
            except OSError:
                kind = "unreadable"  # reading it says why
            if kind:
                out.append(p)
            elif notes is not None and (why := not_a_log(p)):
                notes.append(f"{p}: skipped, {why}")
    return out


def not_a_log(path: str) -> str | None:
    """Why a file that no format recognises is worth a note: it is empty, or binary data
    (NUL bytes); None for other text (a config, a results file)."""
    try:
        with open(path, "rb") as f:
            head = f.read(1 << 16)
    except OSError:
        return None
    if not head.strip():
        return "empty file"
    if b"\x00" in head:
        return "binary data, not a training log"
    return None


def expand(patterns, beside: bool = False, notes: list | None = None) -> tuple[list[str], list]:
    """PATH arguments -> (log files, ParseErrors). Discovery happens here, once.

    A PATH is a file, a directory (searched recursively for logs), a glob (when no file has
    that very name), or '-' (stdin). `beside`: each named file also brings the other logs
    of its run directory that share its run key (twins, resume segments). `notes`: files
    skipped that are not errors (see find_logs).
    """
    files: list[str] = []
    problems: list = []
    for pattern in patterns:
        pattern = STDIN if pattern == STDIN else os.fspath(pattern)
        if pattern == STDIN:
            files.append(STDIN)
            continue
        if not os.path.lexists(pattern) and set("*?[") & set(pattern):
            matches = [p for p in sorted(glob.glob(pattern, recursive=True)) if _log_or_dir(p, pattern, notes)]
            if not matches and not (notes and any(n.endswith(f"(matched by {pattern})") for n in notes)):
                problems.append(ParseError(pattern, "no file matches this pattern"))
        else:
            matches = [pattern]
        for path in matches:
            if os.path.isdir(path):
                unreadable: list = []
                found = find_logs(path, notes, unreadable)
                problems.extend(unreadable)
                if not found and not unreadable:
                    problems.append(ParseError(path, "no training log found in this directory"))
                files.extend(found)
            elif os.path.exists(path):
                files.extend(_with_siblings(path) if beside else [path])
            else:
                problems.append(ParseError(path, "no such file or directory"))
    return list(dict.fromkeys(files)), problems


def _log_or_dir(path: str, pattern: str, notes: list | None) -> bool:
    """A glob's match is read when it is a directory or a log, as in a directory search;
    any other match (`report.html` beside the runs of `'work/*'`) is skipped with a note."""
    if os.path.isdir(path) or not os.path.exists(path):
        return True  # a dangling link: reading it says so
    why = None
    if not os.path.isfile(path):
        why = f"not a regular file ({_file_kind(os.stat(path).st_mode)})"
    elif not is_candidate(path):
        why = "not a log file by its name"
    else:
        try:
            why = None if detect_file(path) else (not_a_log(path) or "not a training log")
        except OSError:
            return True  # reading it says why
    if why and notes is not None:
        notes.append(f"{path}: skipped, {why} (matched by {pattern})")
    return why is None


def _file_kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a file"


def _with_siblings(path: str) -> list[str]:
    """`path` and the logs of its run that sit where a run keeps them: its own folder, and
    for mmengine (`<wd>/<ts>/<ts>.log`, `<wd>/<ts>/vis_data/…`) every `<wd>/*/` and
    `<wd>/*/vis_data/`. No recursive walk: a log in a home directory stays cheap to follow."""
    key = run_key(path)[:2]
    here = os.path.abspath(path)
    folder = os.path.dirname(here)
    places = {folder}
    if key[0] != folder and os.path.isdir(key[0]):
        for entry in sorted(os.listdir(key[0])):
            d = os.path.join(key[0], entry)
            places |= {d, os.path.join(d, "vis_data")}
    siblings = []
    for d in sorted(p for p in places if os.path.isdir(p)):
        for f in sorted(os.listdir(d)):
            p = os.path.join(d, f)
            if p != here and os.path.isfile(p) and is_candidate(p) and run_key(p)[:2] == key and detect_file(p):
                siblings.append(p if os.path.isabs(path) else os.path.relpath(p))  # named as `path` is
    return [path] + siblings


def group_segments(paths) -> list[tuple[tuple[str, str], list[list[str]]]]:
    """Candidate runs (same run directory and name) -> segment keys -> that key's twin
    files, preferred first. Whether candidates are really one run is `parsers.identity`'s
    call, made on what the files say."""
    runs: dict = {}
    for p in paths:
        rdir, name, seg = run_key(p)
        runs.setdefault((rdir, name), {}).setdefault(seg, []).append(p)
    return [(key, [sorted(runs[key][seg], key=_twin_rank) for seg in sorted(runs[key])]) for key in sorted(runs)]


def _twin_rank(path: str):
    name = os.path.basename(path).lower()
    is_events = name.startswith(EVENTS_PREFIX)
    is_json = ".json" in name
    return (is_json or is_events, is_events, name != "scalars.json", name)


def newest_sibling(path: str) -> str:
    """The newest timestamped log next to `path` (same kind of file), or `path` itself: a
    restart writes `<work_dir>/<new ts>.log` (mmcv) or `<work_dir>/<new ts>/<new ts>.log`
    (mmengine). Looks in the file's directory and in the sibling timestamp directories."""
    path = os.path.abspath(path)
    folder, name = os.path.split(path)
    m = STAMPED_LOG.match(name)
    if not m:
        return path
    suffix = m.group(2) + (m.group(3) or "")
    candidates = []
    for entry in _listdir(folder):
        mm = STAMPED_LOG.match(entry)
        if mm and mm.group(2) + (mm.group(3) or "") == suffix:
            candidates.append((mm.group(1), os.path.join(folder, entry)))
    parent, dirname = os.path.split(folder)
    if BARE_TIMESTAMP.match(dirname):
        for entry in _listdir(parent):
            if BARE_TIMESTAMP.match(entry):
                inner = os.path.join(parent, entry, entry + suffix)
                if os.path.isfile(inner):
                    candidates.append((entry, inner))
    if not candidates:
        return path
    return max(candidates)[1] if max(candidates)[0] > m.group(1) else path


def newest_log_in(folder: str) -> str | None:
    """The newest log of a work dir: `<ts>.log` (mmcv) or `<ts>/<ts>.log` (mmengine) by
    timestamp name, else any `.log`/`.log.json` by modification time."""
    stamped, others = [], []
    for entry in _listdir(folder):
        path = os.path.join(folder, entry)
        m = STAMPED_LOG.match(entry)
        if m and os.path.isfile(path) and m.group(2) != ".json":
            stamped.append((m.group(1), m.group(2) == ".log", path))
        elif BARE_TIMESTAMP.match(entry) and os.path.isfile(os.path.join(path, entry + ".log")):
            stamped.append((entry, True, os.path.join(path, entry + ".log")))
        elif entry.endswith((".log", ".log.json")) and os.path.isfile(path):
            others.append((os.path.getmtime(path), path))
    if stamped:
        return max(stamped)[2]  # the latest timestamp; its text log before its .log.json twin
    return max(others)[1] if others else None


def _listdir(folder: str) -> list[str]:
    try:
        return os.listdir(folder)
    except OSError:
        return []
