"""Building the pandas frames fast: string columns straight from Arrow, floats as one block.

String columns (`run`, `group`, `term`, `metric`) use pandas' default string dtype
(`str`, Arrow-backed), built from a small dictionary and integer codes without a
Python object per row.
"""
from __future__ import annotations

import numpy as np


def str_series(codes, names, index=None):
    """A `str` Series whose row i is names[codes[i]]."""
    import pandas as pd
    import pyarrow as pa

    codes = np.asarray(codes, dtype=np.int32)
    arr = pa.DictionaryArray.from_arrays(pa.array(codes, pa.int32()), pa.array(list(names), pa.large_string()))
    return pd.Series(arr.cast(pa.large_string()), dtype=pd.StringDtype("pyarrow", na_value=np.nan), index=index)


def const_str(value: str, n: int, index=None):
    return str_series(np.zeros(n, np.int32), [value], index=index)


def float_frame(columns: list[str], matrix):
    """One float64 block (no per-column copies)."""
    import pandas as pd

    return pd.DataFrame(np.asarray(matrix, dtype=np.float64), columns=columns, copy=False)
