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
- stitching: the segments of ONE run (`parsers.identity` decides which segments are one
  run, from resume evidence) in time order (first timestamp, else first step); where steps
  overlap, rows of the earlier segment from the later segment's first step on are replaced
  by the later segment's: counted per segment (`meta.segments[k].dropped_rows`) and in all
  (`meta.replaced_rows`), never dropped silently. The `segment` column says which file a
  row comes from (`parsers.segment_starts` marks the first row of each resume).
- header facts (config, plan, GPUs): the latest segment that states one wins (a resume
  may extend the schedule); the traceback is the last segment's.
- `ended`: "traceback: <exception line>" when the log ends in a Python traceback;
  "finished" when the last row reached the planned end (max epochs / iters, within one
  logging interval); "stopped" when it did not (killed, crashed silently, or still
  running) — also when the last epoch was left midway and the plan is unknown;
  "before first iteration" when a launch logged its header (or json meta line) but no
  train row and no evaluation; "unknown" when neither the plan nor the epoch length is known.
- a run without validation but with a test result (`runner.test()`) has that result as
  its one evaluation (see `_evals`).
"""
from __future__ import annotations

import datetime as _dt

import numpy as np

from parsers import layers as layers_mod
from parsers import config_facts as M
from parsers.config import read_config
from parsers.frames import const_str, float_frame, str_series
from parsers.identity import launch_stamp
from parsers.meta import Meta, Segments
from parsers.run import EVALS_COLUMNS, TRAIN_COLUMNS, Run

FIXED_LOGGED = ["lr", "eta_s", "time", "data_time", "memory", "grad_norm", "loss"]


def build_run(segments, name: str, sources: list[str], twins_not_read=()) -> Run:
    order = sorted(range(len(segments)), key=lambda k: segment_order(segments[k]))
    segments = [segments[k] for k in order]
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
    offsets = _wall_offsets(segments, pos, keep)
    block, present, segment_col, colnames, row_of, key_index = _fill(segments, pos, keep, keys, offsets)
    nrows = block.shape[1]
    fixed = {"step": block[colnames.index("step")]}
    # `lr` = param group 0 of the (first) optimizer; with several optimizers mmcv logs
    # `lr_<name>` per optimizer: the first one stands in where `lr` itself is absent.
    first_group = next((k for k in keys if k.startswith("lr_")), None)
    lr_key = "lr" if "lr" in keys else first_group
    lr_row = block[colnames.index("lr")]
    if first_group:
        absent = ~present[key_index["lr"]] if "lr" in keys else np.ones(nrows, bool)
        lr_row[absent] = block[row_of[first_group]][absent]
    if total_batch:
        block[colnames.index("samples")] = fixed["step"] * total_batch
    present = {k: present[key_index[k]] for k in keys}
    train = float_frame(colnames, block.T)
    train.insert(0, "run", const_str(name, nrows))
    train.insert(1, "segment", segment_col)
    superseded = _superseded(segments, pos, keep, keys, offsets, name, total_batch, first_group)

    config_layers = M.decoder_layers(cfg)
    layer_present = {k: present[k] for k in keys}
    layers_df = layers_mod.LazyLayers(train, layer_present, name, config_layers)  # built on first read

    max_epochs, max_iters = M.max_epochs_iters(cfg, header)
    if max_iters is None and runner == "iter":
        # `Iter [i/n]`: n is the planned number of iterations.
        ns = [s.n[~np.isnan(s.n)] for s in segments if s.n is not None and len(s.n)]
        ns = np.concatenate(ns) if ns else np.zeros(0)
        if len(ns):
            max_iters = int(ns.max())
    last = _last_position(train)
    evals, eval_strings = _evals(segments, pos, keep, runner, ipe, cfg, name, last)
    skipped: dict = {}
    skipped_lines: dict = {}
    for s in segments:
        for r, c in s.skipped.items():
            skipped[r] = skipped.get(r, 0) + c
        for r, ls in s.skipped_lines.items():
            skipped_lines.setdefault(f"{r}", []).extend(f"{s.source}:{n}" for n in ls)
    logged_layers = _logged_layer_count(train.columns, config_layers)
    meta = Meta(
        name=name,
        sources=tuple(sources),
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
        segments=Segments(tuple(seg_info)),
        skipped=skipped,
        skipped_lines=skipped_lines,
        ended=_ended(segments, header, runner, max_epochs, max_iters, last, interval, train),
        log_interval=interval or _median_interval(train),
        exp_name=header.get("exp_name"),
        seed=header.get("seed"),
        test_metrics=_test_metrics(segments),
        wall_s_estimated=any(s.format.endswith("json") for s in segments) or None,
        lr_key=lr_key,
        twins=tuple(t for s in segments for t in s.header.get("twins_read", [])),
        twins_not_read=tuple(twins_not_read),
        replaced_rows=sum(info["dropped_rows"] for info in seg_info),
        started=launch_stamp(segments[0]) if segments else None,
        tail=tuple(next((s.header["tail_lines"] for s in reversed(segments) if s.header.get("tail_lines")), ())),
    )
    return Run(meta=meta, train=train, layers=layers_df, evals=evals, eval_strings=tuple(eval_strings),
               superseded=superseded)


def _wall_offsets(segments, pos, keep) -> list[float]:
    """Seconds added to each segment's wall clock: the kept rows of the segments before it
    (a resumed launch continues from the previous one's last row; the gap is removed)."""
    out, offset = [], 0.0
    for s, p, kp in zip(segments, pos, keep):
        out.append(offset)
        wall = _wall(s, p)
        if kp.any() and not np.all(np.isnan(wall[kp])):
            offset += float(np.nanmax(wall[kp]))
    return out


def _fill(segments, pos, masks, keys, offsets):
    """The rows `masks` selects of every segment -> (float block columns x rows, present
    [keys x rows], segment index per row, column names, key -> block row, key -> present row)."""
    nrows = int(sum(m.sum() for m in masks))
    # One float block (columns x rows), filled in place and handed to pandas without a copy.
    colnames = [c for c in TRAIN_COLUMNS if c not in ("run", "segment")]
    row_of: dict[str, int] = {}
    for k in keys:
        if k in colnames and k in FIXED_LOGGED and k != "eta_s":
            row_of[k] = colnames.index(k)
        else:
            clash = k in colnames or k in ("run", "segment") or f"logged_{k}" in keys
            colnames.append(f"logged_{k}" if clash else k)  # a logged key named like a derived column
            row_of[k] = len(colnames) - 1
    block = np.full((len(colnames), nrows), np.nan)
    key_index = {k: j for j, k in enumerate(keys)}
    present = np.zeros((len(keys), nrows), bool)
    fixed = {c: block[colnames.index(c)] for c in ("epoch", "iter", "iters_per_epoch", "step", "epoch_f", "wall_s", "eta_s")}
    segment_col = np.zeros(nrows, np.int64)
    at = 0
    for idx, (s, p, kp) in enumerate(zip(segments, pos, masks)):
        m = int(kp.sum())
        sl = slice(at, at + m)
        for c in ("epoch", "iter", "iters_per_epoch", "step", "epoch_f"):
            fixed[c][sl] = p[c][kp]
        if s.eta_s is not None and len(s.eta_s):
            fixed["eta_s"][sl] = s.eta_s[kp]
        fixed["wall_s"][sl] = _wall(s, p)[kp] + offsets[idx]
        segment_col[sl] = idx
        if s.keys and m:
            vals = s.values if kp.all() else s.values[kp]
            block[[row_of[k] for k in s.keys], sl] = vals.T
            pres = s.present if s.present is not None else ~np.isnan(s.values)
            present[[key_index[k] for k in s.keys], sl] = (pres if kp.all() else pres[kp]).T
        at += m
    return block, present, segment_col, colnames, row_of, key_index


def _superseded(segments, pos, keep, keys, offsets, name, total_batch, first_group):
    """Rows a later launch re-ran (a resume from an earlier checkpoint), in the columns of
    `train` plus `superseded_by` (the segment whose rows replaced them). They are evidence
    — the first attempt may have gone NaN — but not the run's curve."""
    masks = [~k for k in keep]
    block, present, segment_col, colnames, row_of, key_index = _fill(segments, pos, masks, keys, offsets)
    n = block.shape[1]
    if n and first_group:
        absent = ~present[key_index["lr"]] if "lr" in keys else np.ones(n, bool)
        block[colnames.index("lr")][absent] = block[row_of[first_group]][absent]
    if n and total_batch:
        block[colnames.index("samples")] = block[colnames.index("step")] * total_batch
    frame = float_frame(colnames, block.T)
    frame.insert(0, "run", const_str(name, n))
    frame.insert(1, "segment", segment_col)
    frame["superseded_by"] = (segment_col + 1).astype(np.int64)
    return frame


def _format(segments) -> str | None:
    fmts = [s.format for s in segments]
    return fmts[0] if len(set(fmts)) == 1 else "+".join(dict.fromkeys(fmts))


def _merged_header(segments) -> dict:
    """Header facts of a run's segments, in time order. A resumed launch runs under its own
    config and plan (a schedule extended from 3 to 6 epochs at the resume): the latest
    segment that states a fact wins. Resume and checkpoint records of all segments are
    joined; the traceback is the last segment's (an earlier launch's crash was resumed)."""
    out: dict = {}
    for s in segments:
        for k, v in s.header.items():
            if k in ("resumes", "checkpoints"):
                out.setdefault(k, []).extend(v)
            elif k == "traceback":
                continue
            elif _stated(v) or k not in out:
                out[k] = v
    if segments and segments[-1].header.get("traceback"):
        out["traceback"] = segments[-1].header["traceback"]
    return out


def _stated(v) -> bool:
    return v is not None and not (isinstance(v, (str, list, tuple, dict)) and len(v) == 0)


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
        if e >= 2 and interval:
            start = step[c] - interval
            est.append(start / (e - 1))
    if not est:
        return None
    v = float(np.median(est))
    return int(round(v)) if v > 0 else None


def segment_order(s) -> tuple:
    """Sort key of a segment: launch time, then resumed after fresh, then first step."""
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
    from parsers.patterns import date_format

    if not text:
        return None
    for fmt in (date_format("mmcv"), date_format("mmengine")):  # a console date without a year: None
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


def _evals(segments, pos, keep, runner, ipe, cfg, name, last):
    """The long evals frame (numbers) and the string-valued eval fields (a list).

    A run with no validation but a test result (`runner.test()`: an `Epoch(test)` line, or
    the test dump `<ts>/<ts>.json`, one row without `step`) has that result as its one
    evaluation, at the last train row (epoch and step NaN when there is none)."""
    import pandas as pd

    ev_interval = M.number(M.get(cfg, "evaluation", "interval")) or M.number(M.get(cfg, "train_cfg", "val_interval"))
    cols = {"epoch": [], "step": [], "metric": [], "value": []}
    strings = []
    for s, p in zip(segments, pos):
        if not s.eval_metric:
            continue
        steps, per_row = p["step"], p["iters_per_epoch"]
        after = np.asarray(s.eval_after_row, dtype=np.int64)
        valid = (after >= 0) & (after < len(steps))
        at = np.where(valid, after, 0)
        last_step = np.where(valid, steps[at] if len(steps) else np.nan, np.nan)
        stated = np.asarray(s.eval_step, dtype=float)
        if runner == "iter":
            step = np.where(np.isnan(stated), last_step, stated)
            unknown = np.isnan(stated) & ~np.isnan(last_step)
            if ev_interval:
                # the evaluation ran at the interval multiple the last train row led to
                step = np.where(unknown, np.ceil(last_step / ev_interval) * ev_interval, step)
            else:
                ckpts = np.array(sorted(c[1] for c in s.header.get("checkpoints", []) if c[2] == "iterations"), dtype=float)
                if len(ckpts):
                    k = np.searchsorted(ckpts, np.where(np.isnan(last_step), 0, last_step))
                    found = unknown & (k < len(ckpts))
                    step = np.where(found, ckpts[np.minimum(k, len(ckpts) - 1)], step)
            epoch = step / ipe if ipe else np.full(len(step), np.nan)
        else:
            epoch = np.asarray(s.eval_epoch, dtype=float)
            per = np.where(valid, per_row[at] if len(per_row) else np.nan, np.nan)
            per = np.where(np.isnan(per), float(ipe) if ipe else np.nan, per)
            step = np.where(np.isnan(per), last_step, epoch * per)
        is_str = np.array([isinstance(v, str) for v in s.eval_value], dtype=bool)
        for k in np.flatnonzero(is_str):
            strings.append({"epoch": float(epoch[k]), "step": float(step[k]), "metric": s.eval_metric[k], "value": s.eval_value[k]})
        num = ~is_str
        cols["epoch"].append(epoch[num])
        cols["step"].append(step[num])
        cols["metric"].append(np.asarray(s.eval_metric, dtype=object)[num])
        cols["value"].append(np.array([v for v, st in zip(s.eval_value, is_str) if not st], dtype=float))
    tests = _test_metrics(segments)
    if not cols["metric"] and not strings and tests:
        epoch, step = last.get("epoch", np.nan), last.get("step", np.nan)
        for metric, value in tests.items():
            if isinstance(value, str):
                strings.append({"epoch": epoch, "step": step, "metric": metric, "value": value})
            else:
                for k, v in (("epoch", epoch), ("step", step), ("metric", metric), ("value", value)):
                    cols[k].append(np.array([v], dtype=object if k == "metric" else float))
    cat = {k: (np.concatenate(v) if v else np.zeros(0, object if k == "metric" else float)) for k, v in cols.items()}
    codes, names = pd.factorize(cat["metric"]) if len(cat["metric"]) else ([], [])  # a hash: np.unique sorts objects
    n = len(cat["metric"])
    df = pd.DataFrame(
        {
            "run": const_str(name, n),
            "epoch": cat["epoch"].astype(float),
            "step": cat["step"].astype(float),
            "metric": str_series(codes, list(names)),
            "value": cat["value"].astype(float),
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


def _ended(segments, header, runner, max_epochs, max_iters, last, interval, train) -> str:
    if header.get("traceback"):
        return f"traceback: {header['traceback']}"
    if not last:
        evaluated = any(s.eval_metric or s.test_metrics for s in segments)
        launched = any(s.header.get(k) for s in segments for k in ("config_text", "start_date", "json_meta"))
        # a header (or json meta line) and no train line: the launch never logged iteration 1
        return "before first iteration" if launched and not evaluated else "unknown"
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
    main = [layer for _, group, _, layer in cols if not group.endswith("enc") and not layers_mod.is_stats_group(group)]
    return max(main) + 1 if main else None


def _has_aux(columns, config_layers, logged_layers):
    if layers_mod.has_aux(list(columns)):
        return True
    if any(c is not None and not layers_mod.is_stats_group(c[0]) for c in map(layers_mod.classify, columns)):
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
