"""JSON-lines logs: mmcv 1.x `<ts>.log.json` and mmengine `vis_data/scalars.json`.

mmcv json: line 1 is run meta (`env_info`, `config` text, `seed`, `exp_name`) or, after a
resume, checkpoint meta (`{"epoch": 2, "iter": 61790, "fp16": …}`); rows carry `mode`
(`train`/`val`), `epoch`, `iter` (within the epoch, or global for iter runners, which
write `"epoch": 1` on every row), `lr` (a dict `{name: lr}` with several optimizers),
floats rounded to 5 decimals, bare `NaN` / `Infinity` tokens.
mmengine json: no `mode`; train rows carry `step` (global iter), `epoch` (epoch
runners) and `iter`; val rows carry `step` (= epoch for epoch runners) and metric keys
with `/`; a test dump (tools/test.py) has neither.

Rows are read by `parsers.json_fast` (rows sharing one key layout, straight from the
bytes with numpy) and `parsers.json_rows` (vectorised split of json.dumps' canonical
output, NaN/Infinity tokens included); rows neither can vouch for go through `json.loads`, and
lines that are not JSON objects are counted in `skipped` with their line numbers.
"""
from __future__ import annotations

import json

import numpy as np

from parsers.header import read_env
from parsers.segment import Segment

POSITION_KEYS = ("mode", "epoch", "iter", "step")
NOT_METRICS = ("lr", "time", "data_time", "memory", "base_lr")


def read_json(source: str, data: bytes, library: str) -> Segment:
    seg = Segment(source=source, format=f"{library}-json", library=library)
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    meta_line = _split_meta(seg, data)
    cols, n = _columns(seg, data, meta_line)
    _fill(seg, cols, n, library)
    return seg


def _columns(seg: Segment, data: bytes, meta_line: bool):
    """{name: (float64 values, present mask)} and {name: ('str', object array)} over the
    rows that are JSON objects, in file order; other lines are counted in `skipped`.
    The lines are parsed in ~8 MB chunks, two at a time (see parsers.lines)."""
    from concurrent.futures import ThreadPoolExecutor

    from parsers.json_rows import parse_rows
    from parsers.lines import TextFile

    f = TextFile(data)
    for reason, count in f.skipped.items():
        seg.skip(reason, count)

    from parsers.json_fast import chunk_rows

    def scan(k):
        if not f.has_cr:  # rows read straight from the bytes (parsers.json_fast)
            return chunk_rows(f.data, *f.bounds[k])
        lines, starts = f.chunk_lines(k)
        return starts, (parse_rows(lines, threads=1) if len(lines) else None)

    if len(f.bounds) > 1:
        with ThreadPoolExecutor(2) as ex:
            chunks = list(ex.map(scan, range(len(f.bounds))))
    else:
        chunks = [scan(0)]
    f.set_starts([c[0] for c in chunks])
    n = f.nlines
    is_row = np.zeros(n, bool)
    cols: dict = {}
    rejected = []
    first = 0
    for starts, rows in chunks:
        if rows is not None:
            ok = rows.ok_rows + first
            if len(ok) and ok[-1] - ok[0] + 1 == len(ok) and (np.diff(ok) > 0).all():
                ok = slice(int(ok[0]), int(ok[-1]) + 1)  # consecutive rows: copies, not scatters
            is_row[ok] = True
            for j, name in enumerate(rows.names):
                c = cols.get(name)
                if c is None or isinstance(c[0], str):
                    if c is not None:
                        continue
                    c = cols[name] = (np.full(n, np.nan), np.zeros(n, bool))
                c[0][ok] = rows.values[:, j]
                c[1][ok] = rows.present[:, j]
            for name, col in rows.strings.items():
                c = cols.get(name)
                if c is None:
                    c = cols[name] = ("str", np.full(n, None, dtype=object))
                if isinstance(c[0], str):
                    c[1][ok] = col
            rejected.append(rows.rejected + first)
        first += len(starts)
    if meta_line and n:
        is_row[0] = False  # parsed by _split_meta
    for r in (np.concatenate(rejected) if rejected else []):
        r = int(r)
        if r == 0 and meta_line:
            continue
        last_cut = f.truncated_last and r == n - 1
        _slow_row(seg, cols, is_row, n, r, f.text(r), r + 1, last_cut)
    keep = np.flatnonzero(is_row)
    if len(keep) and keep[-1] - keep[0] + 1 == len(keep):
        keep = slice(int(keep[0]), int(keep[-1]) + 1)  # the usual case: a view, no copy
    out = {}
    for name, c in cols.items():
        if isinstance(c[0], str):
            out[name] = ("str", c[1][keep])
        else:
            out[name] = (c[0][keep], c[1][keep])
    for name, c in list(out.items()):
        if isinstance(c[0], str) and name != "mode":
            count = sum(x is not None for x in c[1])
            seg.skip(f"non-numeric field: {name}", count)
    return out, int(is_row.sum())


def _slow_row(seg, cols, is_row, n, r, text, line_no, last_cut=False) -> None:
    if not text.strip():
        return
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError):
        seg.skip("truncated last line (invalid JSON)" if last_cut else "invalid JSON line", 1, [line_no])
        return
    if not isinstance(obj, dict):
        seg.skip("JSON line is not an object", 1, [line_no])
        return
    is_row[r] = True
    for key, v in _flat_items(obj):
        if isinstance(v, bool) or v is None:
            continue
        if isinstance(v, (int, float)):
            c = cols.get(key)
            if c is None or isinstance(c[0], str):
                if c is not None:
                    continue  # a string column elsewhere: keep its type
                c = cols[key] = (np.full(n, np.nan), np.zeros(n, bool))
            c[0][r] = float(v)
            c[1][r] = True
        elif isinstance(v, str):
            c = cols.get(key)
            if c is None:
                c = cols[key] = ("str", np.full(n, None, dtype=object))
            if isinstance(c[0], str):
                c[1][r] = v
            else:
                seg.skip(f"non-numeric field: {key}", 1, [line_no])
        else:
            seg.skip(f"non-numeric field: {key}", 1, [line_no])


def _flat_items(obj: dict):
    """`"lr": {"backbone": …, "head": …}` (several optimizers) -> lr_backbone, lr_head."""
    for key, v in obj.items():
        if isinstance(v, dict) and key == "lr":
            for sub, sv in v.items():
                yield f"lr_{sub}", sv
        else:
            yield str(key), v


def _split_meta(seg: Segment, data: bytes) -> bool:
    """Read an mmcv json's first line when it is meta (run or checkpoint), not a row."""
    nl = data.find(b"\n")
    first = data if nl < 0 else data[:nl]
    if b'"mode"' in first or b'"step"' in first:
        return False
    try:
        meta = json.loads(first)
    except (ValueError, RecursionError):
        return False
    if not isinstance(meta, dict):
        return False
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
        return True
    return False


def _gather(columns, rows, dtype):
    """(len(rows), len(columns)) matrix of columns[j][rows]: taken row by row into a
    (columns, rows) block and transposed (a view), about 5x faster than column_stack."""
    out = np.empty((len(columns), len(rows)), dtype)
    for j, c in enumerate(columns):
        np.take(c, rows, out=out[j])
    return out.T


def _fill(seg: Segment, cols: dict, n: int, library: str) -> None:
    def num(name):
        c = cols.get(name)
        if c is None or isinstance(c[0], str):
            return np.full(n, np.nan), np.zeros(n, bool)
        return c

    mode = cols["mode"][1] if "mode" in cols and isinstance(cols["mode"][0], str) else [None] * n
    epoch, has_epoch = num("epoch")
    it, has_iter = num("iter")
    step, has_step = num("step")
    mode_arr = np.asarray(mode, dtype=object).copy() if n else np.zeros(0, object)
    mode_arr[mode_arr == None] = ""  # noqa: E711 - elementwise (the column holds str or None)
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
    seg.values = _gather([cols[k][0] for k in train_keys], tr, np.float64)
    seg.present = _gather([cols[k][1] for k in train_keys], tr, bool)
    if len(tr) and library == "mmengine" and not has_epoch[tr].any():
        seg.runner = "iter"
    elif len(tr) and library == "mmengine":
        seg.runner = "epoch"

    ev = np.flatnonzero(is_eval)
    after = np.searchsorted(tr, ev) - 1
    string_names = [k for k in cols if k not in POSITION_KEYS and isinstance(cols[k][0], str)]
    for j, r in enumerate(ev):
        fields = [(k, cols[k][0][r]) for k in metric_names if cols[k][1][r] and k not in NOT_METRICS and not k.startswith("lr_")]
        fields += [(k, cols[k][1][r]) for k in string_names if cols[k][1][r] is not None]
        for k, value in fields:
            if library == "mmengine":
                # Epoch runners: `step` is the epoch. Iter runners write `step: 0`: the
                # step is worked out from the train rows (parsers.assemble).
                seg.eval_epoch.append(float(step[r]) if seg.runner != "iter" else np.nan)
                seg.eval_step.append(np.nan)
            else:
                seg.eval_epoch.append(float(epoch[r]))
                seg.eval_step.append(np.nan)
            seg.eval_after_row.append(int(after[j]))
            seg.eval_metric.append(k)
            seg.eval_value.append(value if isinstance(value, str) else float(value))
    if library == "mmengine":
        for r in np.flatnonzero(is_test):
            for k in metric_names:
                v, p = cols[k]
                if p[r] and k not in NOT_METRICS:
                    seg.test_metrics[k] = float(v[r])
