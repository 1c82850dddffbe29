"""Where a log's bytes come from, and how a file is known again between two reads.

Two sources, one interface (`size`, `read`, `identity`):

- `FileSource`: a regular, uncompressed file, read where it lies, a range at a time (a big
  log never sits in memory whole; a growing log is read from where the last read stopped).
- `MemorySource`: what cannot be read by range — stdin, a FIFO, gzip data, UTF-16 text —
  read once through `parsers.io` (bounded by the input cap, gunzipped, turned into UTF-8).

`open_source(path)` picks one and refuses, before anything is read, what is no log file:
a directory, a character or block device (`/dev/zero`), a socket, a file over the cap
(`parsers.io.max_bytes`: 8 GiB or BEVLOG_MAX_BYTES). A sparse 9 GiB file is refused by
its size, never read.

Identity (`bevlog watch` asks it on every poll): a file is the same file while its device
and inode stay and its first bytes (up to HEAD_PRINT) are those read before. A log replaced
under the same name (a relaunch that writes a new file, or copytruncate and a regrowth,
even to the same size or longer) is another file: whatever was read of the old one is
dropped and the new one is read from its start.
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass

import numpy as np

from parsers.io import BOMS, GZIP_MAGIC, STDIN, display_name, human_size, max_bytes, read_bytes, too_large
from parsers.run import REFUSED, ParseError

HEAD_PRINT = 4096  # bytes of a file's start that identify it (with its device and inode)


@dataclass(frozen=True)
class Identity:
    """A file as it was seen: device, inode, and a digest of its first `head_bytes` bytes."""

    dev: int
    ino: int
    head_bytes: int
    head_digest: bytes


def _digest(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=16).digest()


class FileSource:
    """A regular, uncompressed log file, read a byte range at a time."""

    def __init__(self, path: str, st: os.stat_result | None = None):
        self.path = path
        self.name = display_name(path)
        self._st = st
        self.bytes_read = 0  # what reading cost (a followed log must not be read twice)

    def stat(self) -> os.stat_result:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            raise ParseError(self.name, "no such file") from None
        except OSError as exc:
            raise ParseError(self.name, f"cannot read: {exc.strerror or exc}") from None
        refuse_kind(self.name, st.st_mode)
        cap = max_bytes()
        if st.st_size > cap:
            raise too_large(self.name, human_size(st.st_size))
        self._st = st
        return st

    def size(self) -> int:
        return (self._st or self.stat()).st_size

    def read(self, start: int, stop: int, array: bool = False):
        """Bytes [start, stop) (fewer when the file is shorter now); a uint8 numpy array with
        `array` (numpy asks the kernel for huge pages for a big array: filling it from the
        page cache is faster than `f.read()`'s bytes, docs/benchmarks.md)."""
        self.bytes_read += max(0, stop - start)
        try:
            with open(self.path, "rb") as f:
                f.seek(start)
                if not array:
                    return f.read(max(0, stop - start))
                out = np.empty(max(0, stop - start), np.uint8)
                view = memoryview(out)  # type: ignore[arg-type]  # an ndarray is a buffer
                got = 0
                while got < len(out):
                    n = f.readinto(view[got:])
                    if not n:
                        break  # the file shrank while being read
                    got += n
                return out[:got]
        except OSError as exc:
            raise ParseError(self.name, f"cannot read: {exc.strerror or exc}") from None

    def identity(self, head_bytes: int = HEAD_PRINT) -> Identity:
        st = self._st or self.stat()
        head = self.read(0, min(head_bytes, st.st_size))
        return Identity(st.st_dev, st.st_ino, len(head), _digest(head))

    def same_file(self, seen: Identity) -> bool:
        """Still the file `seen` describes: same device and inode, same first bytes."""
        st = self._st or self.stat()
        if (st.st_dev, st.st_ino) != (seen.dev, seen.ino) or st.st_size < seen.head_bytes:
            return False
        return _digest(self.read(0, seen.head_bytes)) == seen.head_digest


class MemorySource:
    """Content read once (stdin, a FIFO, gzip data, UTF-16 text): bounded, gunzipped, UTF-8."""

    def __init__(self, path: str, data, notes: list[str], st: os.stat_result | None = None):
        self.path = path
        self.name = display_name(path)
        self.data = data  # bytes, or a uint8 array
        self.notes = notes  # what reading said (a gzip stream cut short)
        self._st = st  # the file's stat when it is one (a .gz)

    def stat(self) -> os.stat_result | None:
        return self._st

    def size(self) -> int:
        return len(self.data)

    def read(self, start: int, stop: int, array: bool = False):
        part = self.data[start:stop]
        return np.frombuffer(part, np.uint8) if array else part


def open_source(path: str) -> FileSource | MemorySource:
    """The source of a log (see the module docstring); ParseError for what is no log file."""
    path = str(path)
    if path == STDIN:
        notes: list[str] = []
        return MemorySource(path, read_bytes(path, notes), notes)
    name = display_name(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise ParseError(name, "no such file") from None
    except OSError as exc:
        raise ParseError(name, f"cannot read: {exc.strerror or exc}") from None
    if stat.S_ISDIR(st.st_mode):
        raise ParseError(name, "is a directory, not a log file")
    if stat.S_ISFIFO(st.st_mode):  # `<(zcat …)`: no size, read to its end (capped)
        notes = []
        return MemorySource(path, read_bytes(path, notes), notes)
    refuse_kind(name, st.st_mode)
    if st.st_size > max_bytes():
        raise too_large(name, human_size(st.st_size))
    src = FileSource(path, st)
    head = src.read(0, 4)
    if head.startswith(GZIP_MAGIC) or any(head.startswith(bom) for bom, _ in BOMS):
        notes = []
        return MemorySource(path, read_bytes(path, notes), notes, st)
    return src


def refuse_kind(name: str, mode: int) -> None:
    """ParseError for what is not a regular file (FIFOs are read through `read_bytes`)."""
    if stat.S_ISREG(mode) or stat.S_ISFIFO(mode):
        return
    if stat.S_ISDIR(mode):
        raise ParseError(name, "is a directory, not a log file")
    if stat.S_ISCHR(mode):
        raise ParseError(name, f"{REFUSED}: a character device, not a log file")
    raise ParseError(name, f"{REFUSED}: a device, not a log file")
