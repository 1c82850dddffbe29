"""bevdetr evaluation cost: seconds per validation scene, the forward and the centre-distance AP apart.

    python benchmarks/eval_bench.py                         # tiny and small at 6 layers, 256 scenes
    python benchmarks/eval_bench.py --old /tmp/main-checkout  # and that checkout's metric, same detections

What `engine.evaluate` does per evaluation, in two timed parts: the model's forward and decoding on
scenes rendered beforehand, then `center_distance_map` over the detections. The model is freshly
initialised (seed 0): the short replicas `bevlog validate` trains detect about as little, so every
prediction is a false positive and the metric's greedy walk is at its longest. At 6 decoder layers,
where bevlog/validate.py's table (`EVAL_S_PER_SCENE`) is stated. Rounds are interleaved (every
configuration once per round) and each reports the median, so a neighbour's load hits all alike.
`--old` times another checkout's `bevdetr/metric.py` on the same detections (the baseline in the
same run) and checks it gives the same numbers.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import torch  # noqa: E402

from bevdetr.data import SyntheticBEV, collate  # noqa: E402
from bevdetr.engine import autocast_for  # noqa: E402
from bevdetr.metric import center_distance_map  # noqa: E402
from bevdetr.model import decode_detections  # noqa: E402
from bevdetr.presets import make_settings  # noqa: E402
from bevdetr.train import build_model  # noqa: E402


def old_metric(checkout: str):
    spec = importlib.util.spec_from_file_location("old_metric", os.path.join(checkout, "bevdetr", "metric.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.center_distance_map


def detect(model, batches, device):
    preds = []
    with torch.no_grad():
        for grids in batches:
            with autocast_for(device):
                out = model(grids.to(device))
            logits, boxes = out["pred_logits"][-1].float().cpu(), out["pred_boxes"][-1].float().cpu()
            preds += [decode_detections(logits[b], boxes[b]) for b in range(len(grids))]
    return preds


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenes", type=int, default=256)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--old", default=None, help="a checkout whose bevdetr/metric.py is the baseline")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    device = torch.device("cpu")
    old = old_metric(args.old) if args.old else None
    cases = []
    for preset in ("tiny", "small"):
        s = make_settings(preset, layers=6)
        torch.manual_seed(0)
        model = build_model(s).eval()
        val = SyntheticBEV(s.scene(), 0, "val", args.scenes)
        batches, gts = [], []
        for start in range(0, args.scenes, s.batch):
            grids, targets = collate([val[i] for i in range(start, min(start + s.batch, args.scenes))])
            batches.append(grids)
            gts += [{"labels": t["labels"].numpy(), "centers": t["boxes"][:, :2].numpy()} for t in targets]
        cases.append((preset, model, batches, gts, val.cfg.class_names))
    times: dict[tuple[str, str], list[float]] = {}
    for _ in range(args.rounds):
        for preset, model, batches, gts, names in cases:
            t = time.perf_counter()
            preds = detect(model, batches, device)
            times.setdefault((preset, "forward"), []).append(time.perf_counter() - t)
            t = time.perf_counter()
            new = center_distance_map(preds, gts, names)
            times.setdefault((preset, "metric"), []).append(time.perf_counter() - t)
            if old is not None:
                t = time.perf_counter()
                base = old(preds, gts, names)
                times.setdefault((preset, "metric (old)"), []).append(time.perf_counter() - t)
                if base != new:
                    print(f"{preset}: the old metric gives other numbers", file=sys.stderr)
                    return 1
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, 1 thread")
    print(f"{args.scenes} scenes, median of {args.rounds} interleaved rounds, 6 decoder layers, untrained")
    for preset, *_ in cases:
        fwd, met = (statistics.median(times[(preset, k)]) for k in ("forward", "metric"))
        per = {k: v / args.scenes * 1e3 for k, v in (("forward", fwd), ("metric", met), ("total", fwd + met))}
        line = f"{preset:6} " + "  ".join(f"{k} {v:.2f} ms/scene" for k, v in per.items())
        if old is not None:
            base = statistics.median(times[(preset, "metric (old)")])
            line += f"  | old metric {base / args.scenes * 1e3:.2f} ms/scene ({base / met:.1f}x the new)"
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
