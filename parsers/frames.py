"""Building the pandas frames fast: string columns straight from Arrow, floats as one block.

String columns of `train` and `evals` (`run`, `metric`) use pandas' default string
dtype (`str`, Arrow-backed), built from a small dictionary and integer codes without a
Python object per row. The `layers` frame is long (rows x decoder-layer losses, millions
of rows for a big log): its `run`, `group` and `term` columns are `category` (string
categories), which compare, group and `.str` like strings at a fraction of the cost.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa


def str_series(codes, names, index=None):
    """A `str` Series whose row i is names[codes[i]]."""
    codes = np.asarray(codes, dtype=np.int32)
    arr = pa.DictionaryArray.from_arrays(pa.array(codes, pa.int32()), pa.array(list(names), pa.large_string()))
    return pd.Series(arr.cast(pa.large_string()), dtype=pd.StringDtype("pyarrow", na_value=np.nan), index=index)


def const_str(value: str, n: int, index=None):
    return str_series(np.zeros(n, np.int32), [value], index=index)


def float_frame(columns: list[str], matrix):
    """One float64 block (no per-column copies)."""
    return pd.DataFrame(np.asarray(matrix, dtype=np.float64), columns=columns, copy=False)


def category_series(codes, names):
    """A `category` Series whose row i is names[codes[i]] (string categories)."""
    codes = np.asarray(codes)
    if codes.dtype not in (np.int8, np.int16, np.int32, np.int64):
        codes = codes.astype(np.int32)
    cat = pd.Categorical.from_codes(codes, categories=pd.Index(list(names), dtype=object))
    return pd.Series(cat)


def list_offsets(arr) -> np.ndarray:
    """Offsets of an Arrow list array, from 0, read straight from its buffer."""
    width = np.int64 if pa.types.is_large_list(arr.type) else np.int32
    off = np.frombuffer(arr.buffers()[1], dtype=width)[arr.offset : arr.offset + len(arr) + 1]
    return (off - off[0]).astype(np.int64)
