"""The log-line prefixes of mmcv / mmengine loggers and the timestamp naming rule, each
written once (every parser, discovery and `bevlog watch` import them from here).

Prefixes (the logger name varies: mmdet, mmdet3d, mmseg, mmengine …):
- mmcv 1.x:            `2024-04-07 18:21:18,692 - mmdet - INFO - `
- mmengine (file log): `2022/08/22 15:51:56 - mmengine - INFO - `
- mmengine (console):  `10/10 17:36:37 - mmengine - INFO - ` — mmengine's console
  formatter drops the year; it is what nohup.out, slurm-*.out and wandb output.log hold.
Timestamp names: runners name logs and work-dir folders `%Y%m%d_%H%M%S`.
"""

from __future__ import annotations

import re

TIMESTAMP = r"\d{8}_\d{6}"
BARE_TIMESTAMP = re.compile(rf"^{TIMESTAMP}$")

_LOGGER = r" - (?P<logger>[^ ]+) - (?P<level>[A-Z]+) - "
# dialect -> (line prefix with named groups, strptime format of its `date` group)
DIALECTS = {
    "mmcv": (
        r"^(?P<date>[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}),(?P<ms>[0-9]{3})" + _LOGGER,
        "%Y-%m-%d %H:%M:%S",
    ),
    "mmengine": (r"^(?P<date>[0-9]{4}/[0-9]{2}/[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2})" + _LOGGER, "%Y/%m/%d %H:%M:%S"),
    # No year: the text reader puts one in front of `date` (see parsers.formats.text.reader) and says so.
    "mmengine-console": (r"^(?P<date>[0-9]{2}/[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2})" + _LOGGER, "%Y/%m/%d %H:%M:%S"),
}
LIBRARY = {"mmcv": "mmcv", "mmengine": "mmengine", "mmengine-console": "mmengine"}


def prefix(dialect: str, groups=("date", "ms", "logger", "level")) -> str:
    """The dialect's prefix regex (anchored at the line start) with only `groups` named."""
    keep = set(groups)
    return re.sub(r"\(\?P<(\w+)>", lambda m: m.group(0) if m.group(1) in keep else "(?:", DIALECTS[dialect][0])


def date_format(dialect: str) -> str:
    return DIALECTS[dialect][1]


# Any logger line of any dialect, in bytes, at a line start or after a progress bar's '\r'
# (what the format sniffer looks for).
ANY_PREFIX = re.compile(("(?m)^(?:[^\\n]*\\r)?(?:" + "|".join(prefix(d, ())[1:] for d in DIALECTS) + ")").encode())

# Records: after the prefix, one line each. `Epoch [e][i/n]`, `Iter [i/n]`, `Epoch(val) [e][n]`,
# `Iter(val) [n]`, mmengine `Epoch(train)  [1][  50/3517]`, `Iter(train) [  50/80000]`,
# `Epoch(test) [n/n]`. RECORD_START is how every record begins (a line that starts so but
# does not parse as RECORD is a malformed record).
RECORD_START = r"(?:Epoch|Iter)(?:\([a-z]+\))? *\["
# a record's head, up to its body: `Epoch(val) [12][500/1505]\t`
RECORD_HEAD = (
    r"(?P<kind>Epoch|Iter)(?:\((?P<mode>[a-z]+)\))? *\[ *(?P<x>[0-9]+)(?:/ *(?P<xn>[0-9]+))?\]"
    r"(?:\[ *(?P<y>[0-9]+)(?:/ *(?P<yn>[0-9]+))?\])?[ \t]+"
)
RECORD = RECORD_HEAD + r"(?P<body>.*)$"
# A record line of any dialect, found in bytes from the newline before it (where a big
# log is cut into pieces).
RECORD_LINE = re.compile(rb"\n[^\n]{0,200}? - [A-Z]+ - " + RECORD_START.encode())
# A value read as a number: exactly the strings Arrow's float64 cast accepts (an optional sign,
# digits with or without a point, an exponent; nan, inf, infinity in any case). A batch of values
# is cast at once and, when one of them is no number, told apart by this pattern: the two must
# agree, or a value would read differently with other values beside it (whole file or pieces).
NUMBER = r"^[-+]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?|(?i:nan|inf|infinity))$"

# A key the mmcv fast paths take as a column name as it is (`loss`, `d0.loss_cls`, `grad/norm`).
PLAIN_KEY = re.compile(r"^[A-Za-z_][\w./\-]*$")
# The head of an mmcv train line as the fast path splits it (`<prefix>Epoch [e][i/n]\tlr`), and
# its part after `[` (`e][i/n]\tlr`), which the byte-level reader matches on its own.
MMCV_TRAIN_TAIL = r"(?P<x>[0-9]+)(?:/(?P<xn>[0-9]+))?\](?:\[(?P<y>[0-9]+)(?:/(?P<yn>[0-9]+))?\])?\tlr$"
MMCV_TRAIN_HEAD = prefix("mmcv", ("date", "ms")) + r"(?P<kind>Epoch|Iter) \[" + MMCV_TRAIN_TAIL
