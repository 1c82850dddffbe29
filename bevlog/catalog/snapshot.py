"""What is on disk under the indexed roots, cheaply: every regular file's size, mtime and
the fingerprint of its head.

A file is unchanged when its size, its mtime (ns) and the SHA-1 of its first HEAD_BYTES all
match the catalog's record: a log rewritten in place (another run started in the same
directory, a copy with preserved times) changes at least one of them. Only files whose
record differs are read again. Hidden directories are skipped, as discovery skips them.
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass

HEAD_BYTES = 4096


@dataclass(frozen=True)
class FileState:
    size: int
    mtime_ns: int
    head: str | None = None  # hex SHA-1 of the first HEAD_BYTES; None until computed


def walk(roots) -> dict[str, FileState]:
    """{absolute path: FileState without head} of the regular files under `roots` (files
    named directly are included); hidden directories are not entered."""
    out: dict[str, FileState] = {}
    for root in roots:
        root = os.path.abspath(root)
        if os.path.isfile(root):
            _add(out, root)
            continue
        for d, dirs, files in os.walk(root):
            dirs[:] = sorted(x for x in dirs if not x.startswith("."))
            for name in files:
                _add(out, os.path.join(d, name))
    return out


def _add(out: dict, path: str) -> None:
    try:
        st = os.stat(path)
    except OSError:
        return  # vanished between listing and stat, or a dangling link: not a file now
    if stat.S_ISREG(st.st_mode):
        out[path] = FileState(st.st_size, st.st_mtime_ns)


def head_digest(path: str) -> str | None:
    """SHA-1 of the file's first HEAD_BYTES (None when it cannot be read)."""
    try:
        with open(path, "rb") as f:
            return hashlib.sha1(f.read(HEAD_BYTES)).hexdigest()
    except OSError:
        return None


def with_head(path: str, state: FileState) -> FileState:
    return FileState(state.size, state.mtime_ns, head_digest(path))


def changed(now: dict[str, FileState], before: dict[str, FileState], logs: set[str]) -> set[str]:
    """Paths that are new, gone or different. Size and mtime decide for every file; the
    head fingerprint is also compared for the files that were read as logs."""
    out = set(now) ^ set(before)
    for path, state in now.items():
        old = before.get(path)
        if old is None:
            continue
        if (state.size, state.mtime_ns) != (old.size, old.mtime_ns):
            out.add(path)
        elif path in logs and head_digest(path) != old.head:
            out.add(path)
    return out
