"""Working arrays kept from one chunk to the next of a scan (`parsers.formats.jsonl.blocks`).

A chunk's temporaries are megabytes each. Freed, they go back to the kernel (glibc trims the
heaps of the scanning threads), and the next chunk's arrays are fresh pages again, each
page a fault on first touch (docs/benchmarks.md has what that cost). A scanning thread keeps
one `Scratch` for its chunks instead; an array from it is used only while its chunk is
read (nothing returned points into it).
"""

from __future__ import annotations

import numpy as np


class Scratch:
    """Named buffers, grown when a chunk needs more; `array` gives a view of one."""

    def __init__(self) -> None:
        self._buffers: dict[str, np.ndarray] = {}

    def array(self, name: str, shape, dtype) -> np.ndarray:
        """An uninitialised C-contiguous array of `shape` over buffer `name` (its last
        contents: only valid while no other `array(name, …)` is asked for)."""
        dtype = np.dtype(dtype)
        size = int(np.prod(shape)) * dtype.itemsize
        buf = self._buffers.get(name)
        if buf is None or len(buf) < size:
            buf = self._buffers[name] = np.empty(size + size // 4 + 64, np.uint8)  # room for a longer chunk
        return buf[:size].view(dtype).reshape(shape)
