"""Segments of one run -> a `Run`: positions, stitching, derived columns, frames, meta.

Rules (documented here once, relied on downstream):
- `step` is the global iteration: iter runners log it; epoch runners get
  `(epoch-1) * iters_per_epoch + iter`; mmengine json states it.
- `iters_per_epoch`: from `[i/n]` of epoch-runner lines; else stated by the config
  (`num_iters_per_epoch`); else estimated (meta `iters_per_epoch_estimated = True`) from
  a resumed json's checkpoint meta (`iter / epoch`), from mmengine json epoch boundaries,
  or as the last logged iter of a finished epoch plus half a logging interval.
- iter runners: `iter` is global, `epoch` = floor((step-1)/ipe)+1 and `epoch_f` = step/ipe
  when iters per epoch are known, NaN otherwise.
- `wall_s`: seconds since the start of the first segment, from timestamps, with the gaps
  between resume segments removed (each segment continues from the previous one's last
  row). Json logs carry no timestamps: wall_s is the running sum of `time` × iterations
  (meta `wall_s_estimated = True`).
- evals `step`: epoch runners: the end of that epoch (epoch × ipe); iter runners: the
  evaluation interval multiple reached at the last train row (config `evaluation.interval`),
  else the last checkpoint iteration logged before it, else the last train step.
- stitching: segments in time order (first timestamp, else first step); where steps
  overlap, rows of the earlier segment from the later segment's first step on are dropped
  (`meta["segments"][k]["dropped_rows"]`).
- `ended`: "traceback: <exception line>" when the log ends in a Python traceback;
  "finished" when the last row reached the planned end (max epochs / iters, within one
  logging interval); "stopped" when it did not (killed, crashed silently, or still
  running) — also when the last epoch was left midway and the plan is unknown;
  "unknown" when neither the plan nor the epoch length is known.
"""
from __future__ import annotations

import datetime as _dt

import numpy as np

from parsers import layers as layers_mod
from parsers import meta as M
from parsers.config import read_config
from parsers.frames import const_str, float_frame, str_series
from parsers.run import EVALS_COLUMNS, META_KEYS, TRAIN_COLUMNS, Run

FIXED_LOGGED = ["lr", "eta_s", "time", "data_time", "memory", "grad_norm", "loss"]
DERIVED = set(TRAIN_COLUMNS) - set(FIXED_LOGGED)


def build_run(segments, name: str, sources: list[str]) -> Run:
    import pandas as pd

    header = _merged_header(segments)
    cfg = read_config(header.get("config_text")) if header.get("config_text") else header.get("config")
    if cfg is None and header.get("config"):
        cfg = header["config"]
    runner = next((s.runner for s in segments if s.runner), None) or M.runner_kind(cfg) or None
    if any(s.library == "mmcv" and s.format == "mmcv-json" for s in segments) and M.runner_kind(cfg):
        runner = M.runner_kind(cfg)
    if runner is None and any(_json_resumed_iter_runner(s) for s in segments):
        runner = "iter"
    if runner is None and any(s.rows for s in segments):
        runner = "epoch"  # json rows without a stated runner: mmcv's default EpochBasedRunner
    interval = M.log_interval(cfg)
    ipe, ipe_est = _iters_per_epoch(segments, runner, cfg, interval)

    order = sorted(range(len(segments)), key=lambda k: _segment_start(segments[k]))
    segments = [segments[k] for k in order]
    pos = [_positions(s, runner, ipe) for s in segments]
    keep, seg_info = _stitch(segments, pos)

    spg = M.samples_per_gpu(cfg)
    gpus = M.num_gpus(header, cfg)
    total_batch = spg * gpus if spg and gpus else None

    # Union of keys, first-seen order.
    keys: list[str] = []
    for s in segments:
        for k in s.keys:
            if k not in keys:
                keys.append(k)
    nrows = int(sum(k.sum() for k in keep))
    cols: dict[str, np.ndarray] = {}
    present: dict[str, np.ndarray] = {}
    for k in keys:
        cols[k] = np.full(nrows, np.nan)
        present[k] = np.zeros(nrows, bool)
    fixed = {c: np.full(nrows, np.nan) for c in ("epoch", "iter", "iters_per_epoch", "step", "epoch_f", "wall_s", "eta_s")}
    segment_col = np.zeros(nrows, np.int64)
    at = 0
    wall_offset = 0.0
    for idx, (s, p, kp) in enumerate(zip(segments, pos, keep)):
        m = int(kp.sum())
        sl = slice(at, at + m)
        for c in ("epoch", "iter", "iters_per_epoch", "step", "epoch_f"):
            fixed[c][sl] = p[c][kp]
        fixed["eta_s"][sl] = s.eta_s[kp] if s.eta_s is not None and len(s.eta_s) else np.nan
        wall = _wall(s, p)
        fixed["wall_s"][sl] = wall[kp] + wall_offset
        if m and not np.all(np.isnan(wall[kp])):
            wall_offset = float(np.nanmax(wall[kp])) + wall_offset
        segment_col[sl] = idx
        pres = getattr(s, "present", None)
        for j, k in enumerate(s.keys):
            cols[k][sl] = s.values[kp, j]
            present[k][sl] = pres[kp, j] if pres is not None else ~np.isnan(s.values[kp, j])
        at += m

    # `lr` = param group 0 of the (first) optimizer; with several optimizers mmcv logs
    # `lr_<name>` per optimizer: the first one stands in where `lr` itself is absent.
    first_group = next((k for k in keys if k.startswith("lr_")), None)
    lr_key = "lr" if "lr" in cols else first_group
    lr = cols[lr_key].copy() if lr_key else np.full(nrows, np.nan)
    if lr_key == "lr" and first_group:
        absent = ~present["lr"]
        lr[absent] = cols[first_group][absent]
    samples = fixed["step"] * total_batch if total_batch else np.full(nrows, np.nan)

    data = {
        "epoch": fixed["epoch"],
        "iter": fixed["iter"],
        "iters_per_epoch": fixed["iters_per_epoch"],
        "step": fixed["step"],
        "epoch_f": fixed["epoch_f"],
        "samples": samples,
        "wall_s": fixed["wall_s"],
        "lr": lr,
        "eta_s": fixed["eta_s"],
    }
    for c in ("time", "data_time", "memory", "grad_norm", "loss"):
        data[c] = cols[c] if c in cols else np.full(nrows, np.nan)
    for k in keys:
        if k in data and k not in FIXED_LOGGED:
            data[f"logged_{k}"] = cols[k]  # a logged key named like a derived column
            present[f"logged_{k}"] = present[k]
        elif k not in data:
            data[k] = cols[k]
    train = float_frame(list(data), np.column_stack(list(data.values())) if data else np.zeros((nrows, 0)))
    train.insert(0, "run", const_str(name, nrows))
    train.insert(1, "segment", segment_col)

    config_layers = M.decoder_layers(cfg)
    layer_present = {k: present[k] for k in keys}
    layers_df = layers_mod.long_frame(train, layer_present, name, config_layers)
    evals, eval_strings = _evals(segments, pos, keep, runner, ipe, cfg, name)

    meta = {k: None for k in META_KEYS}
    max_epochs, max_iters = M.max_epochs_iters(cfg, header)
    if max_iters is None and runner == "iter":
        # `Iter [i/n]`: n is the planned number of iterations.
        ns = [s.n[~np.isnan(s.n)] for s in segments if s.n is not None and len(s.n)]
        ns = np.concatenate(ns) if ns else np.zeros(0)
        if len(ns):
            max_iters = int(ns.max())
    last = _last_position(train)
    skipped: dict = {}
    skipped_lines: dict = {}
    for s in segments:
        for r, c in s.skipped.items():
            skipped[r] = skipped.get(r, 0) + c
        for r, ls in s.skipped_lines.items():
            skipped_lines.setdefault(f"{r}", []).extend(f"{s.source}:{n}" for n in ls)
    logged_layers = _logged_layer_count(train.columns, config_layers)
    meta.update(
        name=name,
        sources=sources,
        format=_format(segments),
        library=segments[0].library if segments else None,
        runner=runner,
        max_epochs=max_epochs,
        max_iters=max_iters,
        iters_per_epoch=ipe,
        iters_per_epoch_estimated=ipe_est if ipe else None,
        config=cfg,
        samples_per_gpu=spg,
        num_gpus=gpus,
        total_batch=total_batch,
        optimizer=M.optimizer(cfg),
        optimizers=M.optimizers(cfg),
        lr=M.base_lr(cfg),
        weight_decay=M.weight_decay(cfg),
        grad_clip=M.grad_clip(cfg),
        lr_schedule=M.lr_schedule(cfg),
        fp16=M.fp16(cfg, header.get("json_meta")),
        num_decoder_layers=config_layers or logged_layers,
        has_aux_loss=_has_aux(train.columns, config_layers, logged_layers),
        segments=seg_info,
        skipped=skipped,
        skipped_lines=skipped_lines,
        ended=_ended(header, runner, max_epochs, max_iters, ipe, last, interval, train),
        log_interval=interval or _median_interval(train),
        exp_name=header.get("exp_name"),
        seed=header.get("seed"),
        test_metrics=_test_metrics(segments),
        wall_s_estimated=any(s.format.endswith("json") for s in segments) or None,
        lr_key=lr_key,
    )
    return Run(meta=meta, train=train, layers=layers_df, evals=evals, extra={"eval_strings": eval_strings})


def _format(segments) -> str | None:
    fmts = [s.format for s in segments]
    return fmts[0] if len(set(fmts)) == 1 else "+".join(dict.fromkeys(fmts))


def _merged_header(segments) -> dict:
    out: dict = {}
    for s in segments:
        for k, v in s.header.items():
            if k in ("resumes", "checkpoints"):
                out.setdefault(k, []).extend(v)
            elif k not in out or out[k] in (None, "", [], {}):
                out[k] = v
            elif k == "traceback":
                out[k] = v  # the last segment's traceback is how the run ended
    return out


def _iters_per_epoch(segments, runner, cfg, interval):
    """(ipe or None, estimated?)"""
    ns = np.concatenate([s.n for s in segments if s.n is not None and len(s.n)] or [np.zeros(0)])
    ns = ns[~np.isnan(ns)]
    if runner != "iter" and len(ns):
        vals, counts = np.unique(ns, return_counts=True)
        return int(vals[np.argmax(counts)]), False
    stated = M.config_iters_per_epoch(cfg)
    if stated:
        return stated, False
    if runner == "iter":
        return None, False
    # Estimates for logs that do not print `[i/n]` (json).
    for s in segments:
        jm = s.header.get("json_meta") or {}
        e, i = M.number(jm.get("epoch")), M.number(jm.get("iter"))
        if e and i and e > 0 and i > 0 and i % e == 0:
            return int(i // e), True
    for s in segments:
        if s.step is not None and len(s.step) and not np.all(np.isnan(s.step)) and s.epoch is not None:
            est = _ipe_from_boundaries(s.epoch, s.step)
            if est:
                return est, True
    epochs = np.concatenate([s.epoch for s in segments if s.epoch is not None and len(s.epoch)] or [np.zeros(0)])
    iters = np.concatenate([s.iter for s in segments if s.iter is not None and len(s.iter)] or [np.zeros(0)])
    ok = ~np.isnan(epochs) & ~np.isnan(iters)
    if ok.any():
        epochs, iters = epochs[ok], iters[ok]
        finished = epochs < epochs.max()
        if finished.any():
            top = float(iters[finished].max())
            step = interval or _median_diff(iters)
            return int(round(top + (step or 0) / 2)), True
    return None, False


def _median_diff(x) -> float | None:
    d = np.diff(np.asarray(x, float))
    d = d[d > 0]
    return float(np.median(d)) if len(d) else None


def _ipe_from_boundaries(epoch, step) -> int | None:
    """mmengine json: epoch e starts at (e-1)*ipe; its first row is one interval in."""
    ok = ~np.isnan(epoch) & ~np.isnan(step)
    epoch, step = epoch[ok], step[ok]
    if len(epoch) < 2:
        return None
    interval = _median_diff(step)
    change = np.flatnonzero(np.diff(epoch) > 0) + 1
    est = []
    for c in change:
        e = epoch[c]
        same = np.flatnonzero(epoch == e)
        if e >= 2 and interval:
            start = step[c] - interval
            est.append(start / (e - 1))
    if not est:
        return None
    v = float(np.median(est))
    return int(round(v)) if v > 0 else None


def _segment_start(s) -> tuple:
    t = _parse_date(s.header.get("start_date"))
    first_ts = s.ts[0] if s.ts is not None and len(s.ts) else np.nan
    if t is None and not np.isnan(first_ts):
        t = float(first_ts)
    jm = s.header.get("json_meta") or {}
    resumed = 1 if (jm.get("epoch") is not None or s.header.get("resumes")) else 0
    first_step = np.nan
    if s.epoch is not None and len(s.epoch):
        first_step = float(s.epoch[0] * 1e9 + s.iter[0]) if not np.isnan(s.epoch[0]) else float(s.iter[0])
    if s.step is not None and len(s.step) and not np.isnan(s.step[0]):
        first_step = float(s.step[0])
    return (t if t is not None else float("inf"), resumed, first_step if not np.isnan(first_step) else 0.0, s.source)


def _parse_date(text):
    if not text:
        return None
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y/%m/%d %H:%M:%S"):
        try:
            return _dt.datetime.strptime(text, fmt).replace(tzinfo=_dt.timezone.utc).timestamp()
        except ValueError:
            continue
    return None


def _positions(s, runner, ipe) -> dict:
    n = s.rows
    epoch = s.epoch if s.epoch is not None and len(s.epoch) == n else np.full(n, np.nan)
    it = s.iter if s.iter is not None and len(s.iter) == n else np.full(n, np.nan)
    rown = s.n if s.n is not None and len(s.n) == n else np.full(n, np.nan)
    stated = s.step if s.step is not None and len(s.step) == n else np.full(n, np.nan)
    if runner == "iter":
        step = np.where(np.isnan(stated), it, stated)
        per = np.full(n, float(ipe) if ipe else np.nan)
        epoch_f = step / per
        epoch = np.floor((step - 1) / per) + 1
        iter_col = step
    else:
        per = rown.copy()
        if ipe:
            per[np.isnan(per)] = ipe
        computed = np.where(epoch == 1, it, (epoch - 1) * per + it)  # epoch 1 needs no ipe
        step = np.where(np.isnan(stated), computed, stated)
        iter_col = it
        if s.library == "mmengine" and s.format.endswith("json") and ipe:
            # mmengine json `iter` is the global iteration: within-epoch iter from step.
            iter_col = step - (epoch - 1) * per
        epoch_f = epoch - 1 + iter_col / per
    return {"epoch": epoch, "iter": iter_col, "iters_per_epoch": per, "step": step, "epoch_f": epoch_f}


def _stitch(segments, pos):
    keep = [np.ones(s.rows, bool) for s in segments]
    info = []
    for k, (s, p) in enumerate(zip(segments, pos)):
        dropped = 0
        if k + 1 < len(segments):
            nxt = pos[k + 1]["step"]
            nxt_first = np.nanmin(nxt) if len(nxt) and not np.all(np.isnan(nxt)) else np.nan
            if not np.isnan(nxt_first):
                over = p["step"] >= nxt_first
                dropped = int(over.sum())
                keep[k] &= ~over
        steps = p["step"]  # as logged in this file, before overlap is dropped
        resumed = None
        if s.header.get("resumes"):
            r = s.header["resumes"][0]
            resumed = {"epoch": r["epoch"], "iter": r["iter"]}
        jm = s.header.get("json_meta") or {}
        if resumed is None and jm.get("epoch") is not None:
            resumed = {"epoch": jm.get("epoch"), "iter": jm.get("iter")}
        info.append(
            {
                "index": k,
                "source": s.source,
                "format": s.format,
                "rows": int(keep[k].sum()),  # rows kept in the run
                "first_step": float(np.nanmin(steps)) if len(steps) and not np.all(np.isnan(steps)) else None,
                "last_step": float(np.nanmax(steps)) if len(steps) and not np.all(np.isnan(steps)) else None,
                "start": s.header.get("start_date"),
                "resumed_from": resumed,
                "dropped_rows": dropped,
            }
        )
    return keep, info


def _wall(s, p) -> np.ndarray:
    n = s.rows
    ts = s.ts if s.ts is not None and len(s.ts) == n else np.full(n, np.nan)
    if n and not np.all(np.isnan(ts)):
        start = _parse_date(s.header.get("start_date"))
        if start is not None:
            start += s.header.get("start_ms", 0) / 1000.0
        first = float(np.nanmin(ts))
        if start is None or start > first or first - start > 86400:
            start = first
        return ts - start
    # No timestamps (json): running sum of seconds per iteration x iterations.
    if n and "time" in s.keys:
        t = s.values[:, s.keys.index("time")]
        step = p["step"]
        d = np.diff(np.concatenate([[0.0], step]))
        d[d < 0] = np.nan
        return np.nancumsum(np.where(np.isnan(t * d), 0.0, t * d))
    return np.full(n, np.nan)


def _evals(segments, pos, keep, runner, ipe, cfg, name):
    import pandas as pd

    ev_interval = M.number(M.get(cfg, "evaluation", "interval")) or M.number(M.get(cfg, "train_cfg", "val_interval"))
    rows = {"run": [], "epoch": [], "step": [], "metric": [], "value": []}
    strings = []
    for s, p, kp in zip(segments, pos, keep):
        if not s.eval_metric:
            continue
        steps = p["step"]
        ckpts = [c for c in s.header.get("checkpoints", []) if c[2] == "iterations"]
        for e, after, stated, metric, value in zip(s.eval_epoch, s.eval_after_row, s.eval_step, s.eval_metric, s.eval_value):
            last_step = float(steps[after]) if 0 <= after < len(steps) else np.nan
            if runner == "iter":
                step = stated if not np.isnan(stated) else last_step
                if np.isnan(stated) and not np.isnan(last_step) and ev_interval:
                    step = float(np.ceil(last_step / ev_interval) * ev_interval)
                elif np.isnan(stated) and ckpts:
                    done = [c[1] for c in ckpts if c[1] >= (last_step if not np.isnan(last_step) else 0)]
                    if done:
                        step = float(done[0])
                epoch = step / ipe if ipe else np.nan
            else:
                epoch = e
                per = p["iters_per_epoch"][after] if 0 <= after < len(steps) else (ipe or np.nan)
                per = per if not np.isnan(per) else (ipe or np.nan)
                step = epoch * per if not np.isnan(per) else last_step
            if isinstance(value, str):
                strings.append({"epoch": float(epoch), "step": float(step), "metric": metric, "value": value})
                continue
            rows["run"].append(name)
            rows["epoch"].append(float(epoch))
            rows["step"].append(float(step))
            rows["metric"].append(metric)
            rows["value"].append(float(value))
    names, codes = np.unique(np.array(rows["metric"], dtype=object), return_inverse=True) if rows["metric"] else ([], [])
    n = len(rows["metric"])
    df = pd.DataFrame(
        {
            "run": const_str(name, n),
            "epoch": np.array(rows["epoch"], dtype=float),
            "step": np.array(rows["step"], dtype=float),
            "metric": str_series(codes, list(names)),
            "value": np.array(rows["value"], dtype=float),
        },
        columns=EVALS_COLUMNS,
    )
    if len(df):
        # A resumed run may evaluate an epoch twice: keep the later segment's result.
        df = df.drop_duplicates(["epoch", "step", "metric"], keep="last").reset_index(drop=True)
    return df, strings


def _test_metrics(segments) -> dict | None:
    out: dict = {}
    for s in segments:
        out.update(s.test_metrics)
    return out or None


def _last_position(train) -> dict:
    if len(train) == 0:
        return {}
    r = train.iloc[-1]
    return {k: float(r[k]) for k in ("epoch", "iter", "iters_per_epoch", "step")}


def _median_interval(train) -> int | None:
    if len(train) < 2:
        return None
    d = _median_diff(train["step"].to_numpy(float))
    return int(d) if d else None


def _ended(header, runner, max_epochs, max_iters, ipe, last, interval, train) -> str:
    if header.get("traceback"):
        return f"traceback: {header['traceback']}"
    if not last:
        return "unknown"
    interval = interval or _median_interval(train) or 0
    step, epoch, it, per = last["step"], last["epoch"], last["iter"], last["iters_per_epoch"]
    # The runner logs every `interval` iterations: the run got to its end when the next
    # logging point lies beyond it (mmcv does not log the last partial interval).
    if runner == "iter":
        if max_iters:
            return "finished" if step + interval > max_iters else "stopped"
    else:
        mid_epoch = not np.isnan(per) and not np.isnan(it) and it + interval <= per
        if max_epochs:
            return "finished" if (epoch >= max_epochs and not mid_epoch) else "stopped"
        if mid_epoch:
            return "stopped"
    return "unknown"


def _logged_layer_count(columns, config_layers) -> int | None:
    cols = layers_mod.layer_columns(list(columns), None)
    main = [layer for _, group, _, layer in cols if not group.endswith("enc")]
    return max(main) + 1 if main else None


def _has_aux(columns, config_layers, logged_layers):
    if layers_mod.has_aux(list(columns)):
        return True
    if any(layers_mod.classify(c) for c in columns):
        return False
    return None


def _json_resumed_iter_runner(s) -> bool:
    """A resumed mmcv json without config: an epoch runner's rows restart in the next epoch
    (`epoch` E+1, iter from 1), an iter runner's rows continue in the checkpoint's epoch
    with iters beyond the checkpoint's."""
    jm = s.header.get("json_meta") or {}
    e, i = M.number(jm.get("epoch")), M.number(jm.get("iter"))
    if s.format != "mmcv-json" or e is None or i is None or not s.rows:
        return False
    return bool(s.epoch[0] == e and s.iter[0] > i)
