"""JSON-lines logs: mmcv 1.x `<ts>.log.json` and mmengine `vis_data/scalars.json`.

mmcv json: line 1 is run meta (`env_info`, `config` text, `seed`, `exp_name`) or, after a
resume, checkpoint meta (`{"epoch": 2, "iter": 61790, "fp16": …}`); rows carry `mode`
(`train`/`val`), `epoch`, `iter` (within the epoch, or global for iter runners, which
write `"epoch": 1` on every row), `lr` (a dict `{name: lr}` with several optimizers),
floats rounded to 5 decimals, bare `NaN` / `Infinity` tokens.
mmengine json: no `mode`; train rows carry `step` (global iter), `epoch` (epoch
runners) and `iter`; val rows carry `step` (= epoch for epoch runners) and metric keys
with `/`; a test dump (tools/test.py) has neither.

Fast path: `pyarrow.json` reads all rows at once. Python's json writes NaN/±Infinity as
bare tokens that are not JSON; they are first replaced, byte-wise, by three distinct
finite sentinels (`: NaN` -> `: 1.5e+308`, `: Infinity` -> `: 1.6e+308`) that are mapped back to
nan/±inf after reading (a real log value of 1.5e308 would be misread: none is). If Arrow cannot read the file (a corrupt line, a key whose type
changes), every line is read with `json.loads` instead and bad lines are counted.
"""
from __future__ import annotations

import io
import json

import numpy as np

from parsers.header import read_env
from parsers.segment import Segment

NAN_SENTINEL = 1.5e308
INF_SENTINEL = 1.6e308
_REPLACE = [
    (b": -Infinity", b": -" + repr(INF_SENTINEL).encode()),
    (b": Infinity", b": " + repr(INF_SENTINEL).encode()),
    (b": NaN", b": " + repr(NAN_SENTINEL).encode()),
]
POSITION_KEYS = ("mode", "epoch", "iter", "step")
NOT_METRICS = ("lr", "time", "data_time", "memory", "base_lr")


def read_json(source: str, data: bytes, library: str) -> Segment:
    seg = Segment(source=source, format=f"{library}-json", library=library)
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    lines_total = data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
    body, first_row_line = _split_meta(seg, data)
    table = _fast_table(body)
    if table is None:
        cols, ncols_rows = _slow_columns(seg, body, first_row_line)
    else:
        cols, ncols_rows = _arrow_columns(seg, table)
    _fill(seg, cols, ncols_rows, library)
    if data and not data.endswith(b"\n") and lines_total:
        seg.header["truncated_last"] = True
    return seg


def _split_meta(seg: Segment, data: bytes):
    """Take an mmcv json's first line apart when it is meta, not a row."""
    nl = data.find(b"\n")
    first = data if nl < 0 else data[:nl]
    if b'"mode"' in first or b'"step"' in first:
        return data, 1
    try:
        meta = json.loads(first)
    except (ValueError, RecursionError):
        return data, 1
    if not isinstance(meta, dict):
        return data, 1
    if seg.library == "mmcv" or any(k in meta for k in ("env_info", "config", "mmcv_version", "exp_name")):
        seg.header["json_meta"] = {k: v for k, v in meta.items() if k not in ("env_info", "config")}
        if isinstance(meta.get("config"), str):
            seg.header["config_text"] = meta["config"]
        if isinstance(meta.get("env_info"), str):
            read_env(meta["env_info"].splitlines(), seg.header)
        if isinstance(meta.get("exp_name"), str):
            seg.header["exp_name"] = meta["exp_name"]
        if isinstance(meta.get("seed"), int) and not isinstance(meta.get("seed"), bool):
            seg.header["seed"] = meta["seed"]
        return (b"" if nl < 0 else data[nl + 1:]), 2
    return data, 1


def _fast_table(body: bytes):
    import pyarrow as pa
    import pyarrow.json as pj

    if not body.strip():
        return None
    for old, new in _REPLACE:
        if old in body:
            body = body.replace(old, new)
    try:
        return pj.read_json(io.BytesIO(body), read_options=pj.ReadOptions(block_size=1 << 24))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError, OverflowError, ValueError):
        return None


def _arrow_columns(seg: Segment, table):
    """{name: (float64 values, present mask) | ('str', list)} in schema order."""
    import pyarrow as pa
    import pyarrow.compute as pc

    cols: dict = {}
    n = table.num_rows
    for name, col in zip(table.column_names, table.columns):
        col = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
        t = col.type
        if name == "mode":
            cols[name] = ("str", col.cast(pa.string()).to_pylist() if pa.types.is_string(t) else [None] * n)
            continue
        if pa.types.is_struct(t):  # lr of several optimizers: {"backbone": …, "head": …}
            for f in t:
                sub = pc.struct_field(col, f.name)
                if pa.types.is_integer(sub.type) or pa.types.is_floating(sub.type):
                    cols[f"{name}_{f.name}"] = _float_col(sub)
            continue
        if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t) or pa.types.is_null(t):
            if pa.types.is_null(t):
                continue
            cols[name] = _float_col(col.cast(pa.float64()))
            continue
        # Strings (bbox_mAP_copypaste), lists…: not numbers; count the rows carrying them.
        count = n - col.null_count
        if count:
            seg.skip(f"non-numeric field: {name}", count)
    return cols, n


def _float_col(col):
    import pyarrow as pa

    col = col.cast(pa.float64())
    present = np.asarray(col.is_valid())
    v = np.asarray(col.fill_null(np.nan))
    big = np.abs(v) >= NAN_SENTINEL  # NaN compares False: only sentinels match
    if big.any():
        v = v.copy()
        v[v == NAN_SENTINEL] = np.nan
        v[v == INF_SENTINEL] = np.inf
        v[v == -INF_SENTINEL] = -np.inf
    return v, present


def _slow_columns(seg: Segment, body: bytes, first_line: int):
    """Every line through json.loads; unreadable lines are counted with their numbers."""
    rows: list = []
    keys: dict = {}
    for k, raw in enumerate(body.split(b"\n")):
        raw = raw.strip()
        if not raw:
            continue
        line_no = first_line + k
        try:
            obj = json.loads(raw)
        except (ValueError, RecursionError):
            seg.skip("invalid JSON line", 1, [line_no])
            continue
        if not isinstance(obj, dict):
            seg.skip("JSON line is not an object", 1, [line_no])
            continue
        row = {}
        for key, v in obj.items():
            if key == "mode":
                row[key] = v if isinstance(v, str) else None
            elif isinstance(v, bool) or v is None:
                continue
            elif isinstance(v, (int, float)):
                row[key] = float(v)
            elif isinstance(v, dict) and key == "lr":
                for sub, sv in v.items():
                    if isinstance(sv, (int, float)) and not isinstance(sv, bool):
                        row[f"lr_{sub}"] = float(sv)
            else:
                seg.skip(f"non-numeric field: {key}", 1, [line_no])
                continue
            if key not in keys:
                keys[key] = None
            for sub in row:
                keys.setdefault(sub, None)
        rows.append(row)
    n = len(rows)
    cols: dict = {}
    for key in keys:
        if key == "mode":
            cols[key] = ("str", [r.get("mode") for r in rows])
            continue
        if not any(key in r for r in rows):
            continue
        v = np.array([r.get(key, np.nan) for r in rows], dtype=float)
        present = np.array([key in r for r in rows], dtype=bool)
        cols[key] = (v, present)
    return cols, n


def _fill(seg: Segment, cols: dict, n: int, library: str) -> None:
    def num(name):
        c = cols.get(name)
        if c is None or isinstance(c[0], str):
            return np.full(n, np.nan), np.zeros(n, bool)
        return c

    mode = cols.get("mode", ("str", [None] * n))[1] if "mode" in cols else [None] * n
    epoch, has_epoch = num("epoch")
    it, has_iter = num("iter")
    step, has_step = num("step")
    mode_arr = np.array([m if isinstance(m, str) else "" for m in mode], dtype=object) if n else np.zeros(0, object)
    if library == "mmcv":
        is_train = mode_arr == "train"
        is_eval = (mode_arr != "train") & (mode_arr != "")
        no_mode = mode_arr == ""
        seg.skip("row without mode", int(no_mode.sum()))
    else:
        is_train = has_step & has_iter
        is_eval = has_step & ~has_iter
        is_test = ~has_step
    metric_names = [k for k in cols if k not in POSITION_KEYS and not isinstance(cols[k][0], str)]

    tr = np.flatnonzero(is_train)
    seg.epoch = epoch[tr]
    seg.iter = it[tr]
    seg.n = np.full(len(tr), np.nan)
    seg.step = step[tr] if library == "mmengine" else np.full(len(tr), np.nan)
    seg.ts = np.full(len(tr), np.nan)
    seg.eta_s = np.full(len(tr), np.nan)
    train_keys = [k for k in metric_names if cols[k][1][tr].any()]
    seg.keys = train_keys
    seg.values = np.column_stack([cols[k][0][tr] for k in train_keys]) if train_keys else np.zeros((len(tr), 0))
    seg.present = np.column_stack([cols[k][1][tr] for k in train_keys]) if train_keys else np.zeros((len(tr), 0), bool)
    if len(tr) and library == "mmengine" and not has_epoch[tr].any():
        seg.runner = "iter"
    elif len(tr) and library == "mmengine":
        seg.runner = "epoch"

    ev = np.flatnonzero(is_eval)
    after = np.searchsorted(tr, ev) - 1
    for j, r in enumerate(ev):
        for k in metric_names:
            if k in NOT_METRICS:
                continue
            v, p = cols[k]
            if not p[r]:
                continue
            if library == "mmengine":
                seg.eval_epoch.append(float(step[r]))  # replaced by assemble per runner kind
                seg.eval_step.append(float(step[r]) if seg.runner == "iter" else np.nan)
            else:
                seg.eval_epoch.append(float(epoch[r]))
                seg.eval_step.append(np.nan)
            seg.eval_after_row.append(int(after[j]))
            seg.eval_metric.append(k)
            seg.eval_value.append(float(v[r]))
    if library == "mmengine":
        for r in np.flatnonzero(is_test):
            for k in metric_names:
                v, p = cols[k]
                if p[r] and k not in NOT_METRICS:
                    seg.test_metrics[k] = float(v[r])
