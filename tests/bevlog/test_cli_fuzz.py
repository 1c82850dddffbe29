"""Whatever a log holds, the CLI answers with output and an exit code in {0, 1, 2}.

Hypothesis damages slices of real logs (text, json, mmengine json, a console capture):
byte flips, numbers made huge or infinite (`1e309`, 400 digits), long and layer-like keys
(`d99999999999999999999.loss_cls`), NUL and control characters, cuts, gzip (whole or
cut short), and runs `parse`, `diagnose` (text, json, markdown), `compare` and `report` on the
result through click's CliRunner, next to an undamaged log. Never a traceback, never
an exception out of the command, never a log's ESC byte on the terminal, and the good
run is always in the output.

A second property runs degenerate training series through parse, diagnose (text, json),
report and watch: a real log's header and train lines with every loss term, grad_norm and
the lr rewritten to a constant, zero, an alternation, huge or tiny numbers, all NaN, an
lr ≤ 0, for one to sixty rows. Every rule must be total on them: the run is read and
diagnosed (never "could not be diagnosed", never an internal error).

The suite runs a modest number of examples; a longer run:
    BEVLOG_FUZZ_EXAMPLES=2000 python -m pytest -q -p no:cacheprovider tests/bevlog/test_cli_fuzz.py
"""

import gzip
import os
import re

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from repo_paths import REAL_SET1

from bevlog.cli import cli

EXAMPLES = int(os.environ.get("BEVLOG_FUZZ_EXAMPLES", "15"))
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=EXAMPLES <= 25,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

SOURCES = {
    "text": "PrymceQ__3DDetection_DETR3D__20230727_114037.log",
    "mmcv-json": "PrymceQ__3DDetection_DETR3D__20230727_114037.log.json",
    "iter-text": "PrymceQ__BEVModel_StreamPETR__20230725_174411.log",
    "mmengine-json": "jasoni4399__FYP_mmdetection__20241114_204353.json",
    "console": "eb45__StreamPETR_TTC_Head__run-20260409_140746-x2mo2co1_output.log",
}
GOOD = REAL_SET1 / "PrymceQ__BEVModel_StreamPETR__20230725_174411.log"
GOOD_NAME = "PrymceQ__BEVModel_StreamPETR"


def _slices():
    """Per source: its header (config, meta line) and 120 lines of records, with evals."""
    out = {}
    for kind, name in SOURCES.items():
        lines = (REAL_SET1 / name).read_bytes().split(b"\n")
        head = lines[: min(len(lines) // 3, 400)]
        body = [line for line in lines[len(head) :] if line.strip()]
        records = [
            line for line in body if b"Epoch" in line or b"Iter" in line or b'"mode"' in line or b'"step"' in line
        ]
        evals = [line for line in body if b"(val)" in line or b'"val"' in line or b"coco/" in line][:4]
        out[kind] = (head, records[:120] + evals + records[120:240]) if records else (lines, [])
    return out


SLICES = _slices()
HUGE = [b"1e309", b"-1e309", b"1" + b"0" * 400, b"99999999999999999999", b"NaN", b"Infinity", b"-0", b"1e-400"]
KEYS = [
    b"d99999999999999999999.loss_cls",
    b"loss_" + b"x" * 5000,
    b"frame_9999999999999_loss_cls",
    b"loss_cls_999999999999",
    b"a" * 70000,
    b"layer_99999999999999999999_loss_cls",
]
JUNK = [
    b"\x00",
    b"\x1b[2J",
    b"\x1b]0;pwned\x07",
    b"\r",
    b"\x7f",
    b"\xc2\x9b",
    b"\xff\xfe",
    b"\t",
    b"[",
    b"{",
    b"}",
    b'"',
    b": ",
    b", ",
    b"Traceback (most recent call last):\n",
    b"\n",
]

mutation = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 10**9), st.integers(0, 255)),
    st.tuples(st.just("huge"), st.integers(0, 10**9), st.sampled_from(HUGE)),
    st.tuples(st.just("key"), st.integers(0, 10**9), st.sampled_from(KEYS)),
    st.tuples(st.just("junk"), st.integers(0, 10**9), st.sampled_from(JUNK)),
    st.tuples(st.just("cut"), st.integers(0, 10**9), st.just(b"")),
)


def _apply(data: bytearray, kind: str, pos: int, arg) -> bytearray:
    if not data:
        return data
    i = pos % len(data)
    if kind == "flip":
        data[i] = arg
    elif kind == "huge":  # replace the number starting at or after i
        j = next((k for k in range(i, len(data)) if 48 <= data[k] <= 57), None)
        if j is not None:
            e = j
            while e < len(data) and (48 <= data[e] <= 57 or data[e] in b".e-+"):
                e += 1
            data[j:e] = arg
    elif kind == "key":  # replace the key of the `key: value` / `"key":` at or after i
        j = data.find(b": ", i)
        if j > 0:
            s = max(data.rfind(b" ", 0, j), data.rfind(b'"', 0, j - 1), data.rfind(b"\t", 0, j)) + 1
            if data[j - 1 : j] == b'"':
                j -= 1
            data[s:j] = arg
    elif kind == "junk":
        data[i:i] = arg
    else:
        del data[i:]
    return data


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return tmp_path_factory.mktemp("clifuzz")


@SETTINGS
@given(
    source=st.sampled_from(sorted(SOURCES)),
    mutations=st.lists(mutation, min_size=1, max_size=6),
    packing=st.sampled_from(["plain", "plain", "gzip", "gzip-cut"]),
    command=st.sampled_from(
        ["parse", "parse-csv", "diagnose", "diagnose-json", "diagnose-markdown", "compare", "report"]
    ),
)
def test_cli_never_crashes_on_damaged_logs(work, source, mutations, packing, command):
    head, records = SLICES[source]
    data = bytearray(b"\n".join(head + records) + b"\n")
    for kind, pos, arg in mutations:
        data = _apply(data, kind, pos, arg)
    data = bytes(data)
    suffix = ".log.json" if "json" in source else ".log"
    if packing != "plain":
        data = gzip.compress(data)
        if packing == "gzip-cut":
            data = data[: max(10, len(data) * 2 // 3)]
        suffix += ".gz"
    bad = work / f"damaged{suffix}"
    bad.write_bytes(data)
    args = {
        "parse": ["parse"],
        "parse-csv": ["parse", "--format", "csv"],
        "diagnose": ["diagnose"],
        "diagnose-json": ["diagnose", "--format", "json"],
        "diagnose-markdown": ["diagnose", "--format", "markdown"],
        "compare": ["compare", "--align", "iters"],
        "report": ["report", "--no-findings", "-o", str(work / "r.html")],
    }[command]
    result = CliRunner().invoke(cli, [*args, str(bad), str(GOOD)])
    output = result.output + (result.stderr if result.stderr_bytes is not None else "")
    assert result.exit_code in (0, 1, 2), output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert not re.search(r'File "[^"]*/(bevlog|parsers)/', output) and "internal error" not in output, output
    if command != "parse-csv":  # csv is data: it keeps the log's bytes as they are
        assert "\x1b" not in output
    if command != "report" and not (command == "compare" and result.exit_code == 2):
        assert GOOD_NAME in output  # the good run is never lost (a comparison may be impossible)
    if result.exit_code == 2:
        assert "error: " in output  # one line says what (the damaged file, or a run report cannot align)


# ---- degenerate series ---------------------------------------------------------------------

DEGENERATE_SOURCE = REAL_SET1 / "PrymceQ__3DDetection_DETR3D__20230727_114037.log"


def _train_lines():
    lines = DEGENERATE_SOURCE.read_text().split("\n")
    start = next(i for i, line in enumerate(lines) if "Epoch [1][50/7033]" in line)
    train = [line for line in lines[start : start + 400] if "Epoch [" in line and "\tlr: " in line]
    return lines[:start], train[:60]


HEADER, TRAIN = _train_lines()
LOSS_OR_GRAD = re.compile(r"(\b(?:[\w.]*loss[\w.]*|grad_norm)): [-+0-9.eEnaif]+")
LR = re.compile(r"(\tlr: )[-+0-9.eE]+")


def _series(kind: str, n: int, a: float, b: float) -> list[float]:
    return {
        "constant": [a] * n,
        "zero": [0.0] * n,
        "alternating": [a if i % 2 else b for i in range(n)],
        "huge": [1e300 * (1 + (i % 7)) for i in range(n)],
        "tiny": [1e-300 * (1 + (i % 7)) for i in range(n)],
        "all-nan": [float("nan")] * n,
    }[kind]


def _degenerate_log(kind: str, n: int, a: float, b: float, lr: float | None) -> str:
    values = _series(kind, n, a, b)
    rows = []
    for line, v in zip(TRAIN, values):
        text = "nan" if v != v else repr(v)
        line = LOSS_OR_GRAD.sub(lambda m, text=text: f"{m.group(1)}: {text}", line)
        if lr is not None:
            line = LR.sub(lambda m: f"{m.group(1)}{lr!r}", line)
        rows.append(line)
    return "\n".join(HEADER + rows) + "\n"


@SETTINGS
@given(
    kind=st.sampled_from(["constant", "zero", "alternating", "huge", "tiny", "all-nan"]),
    n=st.sampled_from([1, 2, 3, 7, 60]),
    a=st.floats(0.001, 100),
    b=st.floats(0.001, 100),
    lr=st.sampled_from([None, None, 0.0, -1e-4, -0.0, 1e308]),
    command=st.sampled_from(["parse", "diagnose", "diagnose-json", "report", "watch"]),
)
def test_every_rule_is_total_on_degenerate_series(work, kind, n, a, b, lr, command):
    folder = work / "degenerate"
    folder.mkdir(exist_ok=True)
    log = folder / "20230727_114037.log"
    log.write_text(_degenerate_log(kind, n, a, b, lr))
    args = {
        "parse": ["parse", "--wide", str(log)],
        "diagnose": ["diagnose", str(log)],
        "diagnose-json": ["diagnose", "--format", "json", str(log)],
        "report": ["report", str(log), "-o", str(work / "degenerate.html")],
        "watch": ["watch", "--once", str(log)],
    }[command]
    result = CliRunner().invoke(cli, args)
    output = result.output + (result.stderr if result.stderr_bytes is not None else "")
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code in (0, 1), output  # read and judged: a degenerate run is still a run
    assert "internal error" not in output and "could not be diagnosed" not in output, output
    assert not re.search(r'File "[^"]*/(bevlog|parsers)/', output), output
