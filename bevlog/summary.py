"""One-line and one-row summaries of a Run, shared by `parse`, `diagnose` and `compare`."""
from __future__ import annotations

import math


def _finite(x) -> bool:
    return x is not None and isinstance(x, (int, float)) and math.isfinite(x)


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


def layers_text(meta: dict) -> str:
    n = meta.get("num_decoder_layers")
    aux = meta.get("has_aux_loss")
    if not n:
        return "decoder layers ?"
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
    }


def describe_run(run) -> str:
    """`name · mmcv text · 24 epochs × 1069 iters · batch 8 (8×1) · AdamW lr 1.0e-03 · 6 decoder layers, aux on`"""
    meta = run.meta
    parts = [
        run.name,
        (meta.get("format") or "?").replace("-", " "),
        length_text(meta),
        f"batch {batch_text(meta)}",
        f"{meta.get('optimizer') or '?'} lr {fmt_lr(meta.get('lr'))}",
        layers_text(meta),
    ]
    return " · ".join(parts)
