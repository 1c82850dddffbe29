"""One-line and one-row summaries of a Run, shared by `parse`, `diagnose` and `compare`."""

from __future__ import annotations

import numpy as np

from bevlog.findings import is_number as _finite


def fmt_lr(x) -> str:
    return f"{x:.1e}" if _finite(x) else "?"


def fmt_num(x, digits: int = 4) -> str:
    return f"{x:.{digits}g}" if _finite(x) else "–"


def batch_text(meta: dict) -> str:
    total, gpus, per_gpu = meta.get("total_batch"), meta.get("num_gpus"), meta.get("samples_per_gpu")
    if not total:
        return "?"
    if gpus and per_gpu:
        return f"{total} ({gpus}×{per_gpu})"
    return str(total)


def length_text(meta: dict) -> str:
    if meta.get("runner") == "iter" or not meta.get("max_epochs"):
        return f"{meta['max_iters']} iters" if meta.get("max_iters") else "? iters"
    ipe = meta.get("iters_per_epoch")
    return f"{meta['max_epochs']} epochs × {ipe} iters" if ipe else f"{meta['max_epochs']} epochs"


def short_length(text: str) -> str:
    """`length_text` for a table cell: '24 ep × 7033 it', '42192 it'."""
    return text.replace(" epochs", " ep").replace(" iters", " it")


def layers_text(meta: dict, rows: int | None = None) -> str:
    """'6 decoder layers, aux on'; aux '?' when no train row was read (its losses say whether it is on)."""
    n = meta.get("num_decoder_layers")
    aux = meta.get("has_aux_loss")
    if not n:
        return "decoder layers ?"
    if rows == 0 or aux is None:
        return f"{n} decoder layers, aux ?"
    return f"{n} decoder layers, aux {'on' if aux else 'off'}"


def run_summary(run) -> dict:
    """Plain dict of what a person wants to know about a run at a glance."""
    meta, train = run.meta, run.train
    loss = train["loss"] if "loss" in train else None
    lr = train["lr"] if "lr" in train else None
    finite_loss = loss[loss.map(_finite)] if loss is not None and len(loss) else None
    return {
        "run": run.name,
        "format": meta.get("format"),
        "runner": meta.get("runner"),
        "length": length_text(meta),
        "rows": int(len(train)),
        "evals": int(len(run.evals)),
        "batch": batch_text(meta),
        "lr_min": float(lr.min()) if lr is not None and lr.notna().any() else None,
        "lr_max": float(lr.max()) if lr is not None and lr.notna().any() else None,
        "last_loss": float(finite_loss.iloc[-1]) if finite_loss is not None and len(finite_loss) else None,
        "best_loss": float(finite_loss.min()) if finite_loss is not None and len(finite_loss) else None,
        "decoder_layers": meta.get("num_decoder_layers"),
        "aux": meta.get("has_aux_loss"),
        "ended": meta.get("ended"),
        "skipped": sum((meta.get("skipped") or {}).values()),
        "segments": len(meta.get("segments") or []) or 1,
        **iteration_time(train),
    }


def iteration_time(train) -> dict:
    """Seconds per iteration as mmdet's `analyze_logs.py cal_train_time` reports it: the mean of
    the logged `time` over the run, and the epochs with the slowest and fastest mean. The first
    row of each epoch is left out (it carries the data loader's start-up), as cal_train_time
    does unless asked to include outliers. None where the log has no `time`."""
    out: dict[str, float | int | None] = {
        "s_per_iter": None,
        "slowest_epoch": None,
        "slowest_s": None,
        "fastest_epoch": None,
        "fastest_s": None,
    }
    if "time" not in train or not len(train):
        return out

    time = train["time"].to_numpy(dtype=float)
    epoch = train["epoch"].to_numpy(dtype=float) if "epoch" in train else np.full(len(time), np.nan)
    keys = np.where(np.isfinite(epoch), epoch, -1.0)
    first = np.r_[True, keys[1:] != keys[:-1]]  # the first row of each epoch (in log order)
    keep = np.isfinite(time) & (time > 0) & (~first | (np.bincount(_codes(keys))[_codes(keys)] == 1))
    if not keep.any():
        return out
    out["s_per_iter"] = float(time[keep].mean())
    per_epoch: dict[int, float] = {}
    for e in np.unique(keys[keep & (keys >= 0)]):
        per_epoch[int(e)] = float(time[keep & (keys == e)].mean())
    if len(per_epoch) >= 2:
        slow = max(per_epoch, key=per_epoch.__getitem__)
        fast = min(per_epoch, key=per_epoch.__getitem__)
        out.update(slowest_epoch=slow, slowest_s=per_epoch[slow], fastest_epoch=fast, fastest_s=per_epoch[fast])
    return out


def _codes(keys):
    return np.unique(keys, return_inverse=True)[1]


def iteration_time_text(s: dict) -> str:
    """'1.78 (slowest e7 1.90, fastest e20 1.70)': mean s/iter, then the slowest and fastest epoch."""
    if not _finite(s.get("s_per_iter")):
        return "–"
    text = f"{s['s_per_iter']:.3g}"
    if s.get("slowest_epoch") is not None:
        text += (
            f" (slowest e{s['slowest_epoch']} {s['slowest_s']:.3g}, fastest e{s['fastest_epoch']} {s['fastest_s']:.3g})"
        )
    return text


def describe_run(run) -> str:
    """`name · mmcv text · 24 epochs × 1069 iters · batch 8 (8×1) · AdamW lr 1.0e-03 · 6 decoder layers, aux on`"""
    meta = run.meta
    parts = [
        run.name,
        (meta.get("format") or "?").replace("-", " "),
        length_text(meta),
        f"batch {batch_text(meta)}",
        f"{meta.get('optimizer') or '?'} lr {fmt_lr(meta.get('lr'))}",
        layers_text(meta, len(run.train) if run.train is not None else 0),
    ]
    return " · ".join(parts)
