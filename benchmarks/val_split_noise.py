"""How much of a run's mAP is the choice of validation scenes? Disjoint splits of one model.

    python benchmarks/val_split_noise.py CHECKPOINT.pth [CHECKPOINT.pth ...] [--scenes 4096]

Each checkpoint (a bevdetr `epoch_N.pth`) detects on `--scenes` validation scenes once; the
scenes are then cut into disjoint splits of n = 48 … 1024 and the mAP computed on each split.
The sd over splits is the noise one validation split of n scenes adds to a run's mAP — to be
held against the seed-to-seed spread of paired differences that the sweep resolves
(docs/experiments.md, "How large a validation split").
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import torch  # noqa: E402

from bevdetr.data import SyntheticBEV, collate  # noqa: E402
from bevdetr.metric import center_distance_map  # noqa: E402
from bevdetr.model import decode_detections  # noqa: E402
from bevdetr.presets import settings_from_dict  # noqa: E402
from bevdetr.train import build_model  # noqa: E402

SIZES = (48, 128, 256, 512, 1024)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoints", nargs="+")
    p.add_argument("--scenes", type=int, default=4096)
    a = p.parse_args()
    torch.set_num_threads(1)
    for path in a.checkpoints:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
        settings = settings_from_dict(ckpt["meta"]["settings"])
        model = build_model(settings)
        model.load_state_dict(ckpt["state_dict"])
        model.eval()
        val = SyntheticBEV(settings.scene(), settings.data_seed, "val", a.scenes)
        preds, gts = [], []
        with torch.no_grad():
            for start in range(0, a.scenes, 64):
                grids, targets = collate([val[i] for i in range(start, min(start + 64, a.scenes))])
                out = model(grids)
                for b, t in enumerate(targets):
                    preds.append(decode_detections(out["pred_logits"][-1][b], out["pred_boxes"][-1][b]))
                    gts.append({"labels": t["labels"].numpy(), "centers": t["boxes"][:, :2].numpy()})
        names = settings.scene().class_names
        whole = center_distance_map(preds, gts, names)["mAP"]
        print(f"{path}: epoch {ckpt['meta']['epoch']}, mAP {whole:.4f} on all {a.scenes} scenes")
        for n in SIZES:
            maps = [
                center_distance_map(preds[i : i + n], gts[i : i + n], names)["mAP"]
                for i in range(0, a.scenes - n + 1, n)
            ]
            print(
                f"  n = {n:>5}: {len(maps):>3} disjoint splits, mAP sd {statistics.stdev(maps):.4f} "
                f"(mean {statistics.mean(maps):.4f})"
            )


if __name__ == "__main__":
    main()
