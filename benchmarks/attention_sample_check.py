"""Does the hook's default sample see what the whole batch shows? On trained bevdetr checkpoints.

    python benchmarks/attention_sample_check.py CHECKPOINT.pth [CHECKPOINT.pth ...] [--batches 10]

For each checkpoint (a bevdetr `epoch_N.pth`; its settings are in its meta), the same validation
batches go through the decoder twice in training mode with dropout off: once measured by the
recorder over the whole batch and every query (what bevdetr logs, what the attention-collapse
rule was calibrated on), once with the hook's defaults (`attnstats.recorder`: the first
DEFAULT_SAMPLES samples, up to DEFAULT_QUERIES queries). Printed per decoder layer: the whole-
batch entropy and max |logit| (mean over batches) and the sampled ones, with the largest
difference over batches — to hold against the rule's thresholds (entropy floor 0.1, logit
growth x30 of the run's own early level).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import torch  # noqa: E402

from attnstats import key_names  # noqa: E402
from attnstats.recorder import DEFAULT_QUERIES, DEFAULT_SAMPLES, AttentionRecorder  # noqa: E402
from bevdetr.data import SyntheticBEV, collate  # noqa: E402
from bevdetr.presets import settings_from_dict  # noqa: E402
from bevdetr.train import build_model  # noqa: E402


def measured(model, grids, **sample) -> dict:
    recorder = AttentionRecorder(every=1, **sample)
    recorder.install(model)
    with torch.no_grad():
        model(grids)
    stats = recorder.pop()
    recorder.remove()
    return stats


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoints", nargs="+")
    p.add_argument("--batches", type=int, default=10)
    a = p.parse_args()
    torch.set_num_threads(1)
    for path in a.checkpoints:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
        settings = settings_from_dict(ckpt["meta"]["settings"])
        model = build_model(settings)
        model.load_state_dict(ckpt["state_dict"])
        model.train()
        for m in model.modules():  # training mode, no dropout: both passes see the same
            if isinstance(m, torch.nn.Dropout):
                m.p = 0.0
            if isinstance(m, torch.nn.MultiheadAttention):
                m.dropout = 0.0
        val = SyntheticBEV(settings.scene(), settings.data_seed, "val", a.batches * settings.batch)
        rows = {}
        for b in range(a.batches):
            grids, _ = collate([val[i] for i in range(b * settings.batch, (b + 1) * settings.batch)])
            whole = measured(model, grids, max_samples=settings.batch, max_queries=settings.queries)
            sampled = measured(model, grids, max_samples=DEFAULT_SAMPLES, max_queries=DEFAULT_QUERIES)
            for key in whole:
                rows.setdefault(key, []).append((whole[key], sampled[key]))
        print(
            f"{path}: {settings.layers} layers, batch {settings.batch}, {settings.queries} queries, "
            f"epoch {ckpt['meta']['epoch']}; {a.batches} validation batches"
        )
        for k in range(settings.layers):
            for key in key_names(k):
                pairs = rows[key]
                w, s = statistics.mean(x for x, _ in pairs), statistics.mean(y for _, y in pairs)
                worst = max(abs(x - y) / (abs(x) if "logit" in key else 1) for x, y in pairs)
                kind = "relative" if "logit" in key else "absolute"
                print(
                    f"  {key:<20} whole batch {w:10.4g}   default sample {s:10.4g}   "
                    f"largest {kind} difference over batches {worst:.3g}"
                )


if __name__ == "__main__":
    main()
