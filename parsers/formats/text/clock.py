"""The clock of a text log: unix seconds of each line, and the year of console lines that
carry none.

mmengine's console formatter writes `10/10 17:36:37 - mmengine - INFO - ` without the year.
A launch's year is taken from the `Exp name: <config>_<YYYYmmdd_HHMMSS>` it logs (the
runner's creation time) when that stamp's month and day are those of its first logger
line; failing that, from a neighbouring launch of the same file (`parsers.formats.text.
launches`); failing that, timestamps count from a stand-in year and the segment says
`year_unknown`: differences between them are right, whatever the real year was, except
across a Feb 29 that the stand-in year would not have.
"""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from parsers.patterns import TIMESTAMP, date_format, prefix

STAND_IN_YEAR = 2000  # a leap year, so that a `02/29` line parses
YEAR_BACK = 180 * 86400  # the clock going back this far is a new year (Dec 31 -> Jan 1)
CONSOLE_DATE = re.compile(b"(?m)" + prefix("mmengine-console", ("date",)).encode())
EXP_NAME = re.compile(rb" - Exp name: \S*?(?P<stamp>" + TIMESTAMP.encode() + rb")")


def launch_year(data: bytes) -> tuple[int | None, str | None]:
    """(year, timestamp) of a console capture's launch from its `Exp name` stamp when its
    month and day are those of the launch's first logger line; (None, None) otherwise."""
    return year_of(CONSOLE_DATE.search(data), EXP_NAME.search(data))


def year_of(first, exp) -> tuple[int | None, str | None]:
    """(year, stamp) from the first console line's date match and the `Exp name` match, when
    the stamp's month and day are the line's; (None, None) otherwise."""
    if first is None or exp is None:
        return None, None
    stamp = exp.group("stamp").decode()
    if stamp[4:8] != first.group("date")[:5].decode().replace("/", ""):
        return None, None
    return int(stamp[:4]), stamp


def floats(arr) -> np.ndarray:
    """An Arrow string array of numbers -> float64 (NaN where empty or null)."""
    arr = pc.if_else(pc.equal(arr, ""), None, arr)
    return np.asarray(pc.cast(arr, "float64").fill_null(np.nan))


def timestamps(date, ms, dialect: str, year: int | None = None) -> np.ndarray:
    """Unix seconds of each line from its `date` (and mmcv's `ms`) fields. Lines without a
    year (mmengine's console) count from `year` or else STAND_IN_YEAR, plus one for every
    Dec 31 -> Jan 1 in file order."""
    if len(date) == 0:
        return np.zeros(0)

    def seconds(d):
        t = pc.strptime(d, format=date_format(dialect), unit="s", error_is_null=True)
        return np.asarray(pc.cast(t, pa.int64()).cast(pa.float64()).fill_null(np.nan))

    if dialect == "mmengine-console":
        base = year or STAND_IN_YEAR
        date = date.cast(pa.large_string())
        slash = pa.scalar("/", pa.large_string())
        secs = seconds(pc.binary_join_element_wise(pa.scalar(str(base), pa.large_string()), date, slash))
        with np.errstate(invalid="ignore"):
            years = np.concatenate([[0], np.cumsum(np.diff(secs) < -YEAR_BACK)])
        if years[-1]:
            per_row = pa.array((base + years).astype(str), pa.large_string())
            secs = seconds(pc.binary_join_element_wise(per_row, date, slash))
    else:
        secs = seconds(date)
    if ms is not None:
        secs = secs + floats(ms) / 1000.0
    return secs
