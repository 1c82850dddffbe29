"""bevdetr train-step throughput: samples/s at each preset.

    python benchmarks/bevdetr_bench.py                  # tiny, small, full
    python benchmarks/bevdetr_bench.py --rounds 3 --steps 10 --full-steps 2 --threads 1
    python benchmarks/bevdetr_bench.py --only full --full-steps 20   # on a GPU
    python benchmarks/bevdetr_bench.py --only tiny-6 small          # 6 layers each: validate's table

A train step is what train.py runs per iteration (forward, set losses with per-layer Hungarian
matching, backward, clipping, AdamW) on batches rendered beforehand, so data generation is
not counted. Configurations are measured in interleaved rounds (A B C ... A B C ...) and each
reports the median step time, so a neighbour's load hits all of them alike. On CUDA the step
runs under bf16 autocast and the peak memory is reported.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import torch  # noqa: E402

from bevdetr.criterion import SetCriterion  # noqa: E402
from bevdetr.data import SyntheticBEV, collate  # noqa: E402
from bevdetr.engine import to_device_targets, train_step  # noqa: E402
from bevdetr.model import count_parameters  # noqa: E402
from bevdetr.presets import make_settings  # noqa: E402
from bevdetr.train import build_model, resolve_device  # noqa: E402

CASES = [  # (label, preset, overrides)
    ("tiny", "tiny", {}),
    ("tiny-6", "tiny", {"layers": 6}),  # the depth bevlog validate's cost table is stated at
    ("small", "small", {}),
    ("full", "full", {}),
]


class Case:
    def __init__(self, label, preset, overrides, device, n_batches=4):
        self.label = label
        self.settings = make_settings(preset, device=device.type, **overrides)
        torch.manual_seed(0)
        self.model = build_model(self.settings).to(device)
        self.criterion = SetCriterion(self.settings.num_classes, aux=self.settings.aux)
        self.optimizer = torch.optim.AdamW(
            self.model.parameters(), lr=self.settings.lr, weight_decay=0.01, foreach=True
        )  # as train.py
        data = SyntheticBEV(self.settings.scene(), 0, "train", self.settings.batch * n_batches)
        self.batches = []
        for b in range(n_batches):
            grids, targets = collate([data[i] for i in range(b * self.settings.batch, (b + 1) * self.settings.batch)])
            self.batches.append((grids.to(device), to_device_targets(targets, device)))
        self.device = device
        self.step_times: list[float] = []
        self.k = 0

    def step(self):
        grids, targets = self.batches[self.k % len(self.batches)]
        self.k += 1
        train_step(self.model, self.criterion, self.optimizer, grids, targets, self.settings.clip, self.device)

    def run(self, steps: int):
        for _ in range(steps):
            if self.device.type == "cuda":
                torch.cuda.synchronize()
            t = time.perf_counter()
            self.step()
            if self.device.type == "cuda":
                torch.cuda.synchronize()
            self.step_times.append(time.perf_counter() - t)

    @property
    def samples_per_s(self) -> float:
        return self.settings.batch / statistics.median(self.step_times)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=10, help="timed steps per configuration and round")
    parser.add_argument("--full-steps", type=int, default=2, help="timed steps per round for the full preset")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps per configuration first (full: 1)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads on CPU (0: torch's default)")
    parser.add_argument("--only", nargs="*", help="labels to run (default: all)")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    args = parser.parse_args(argv)

    device = resolve_device(args.device)
    if device.type == "cpu" and args.threads > 0:
        torch.set_num_threads(args.threads)
    cases = [Case(label, preset, ov, device) for label, preset, ov in CASES if not args.only or label in args.only]
    for case in cases:
        for _ in range(1 if case.settings.preset == "full" else args.warmup):
            case.step()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    for _ in range(args.rounds):
        for case in cases:
            case.run(args.full_steps if case.settings.preset == "full" else args.steps)

    name = (
        torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} thread(s)"
    )
    print(
        f"device: {device.type} ({name}); torch {torch.__version__}; "
        f"{args.rounds} rounds x {args.steps} steps ({args.full_steps} for full), median step time"
    )
    print(f"{'configuration':<20} {'params':>9} {'batch':>5} {'tokens':>6} {'ms/step':>9} {'samples/s':>10}")
    by_label = {}
    for case in cases:
        s = case.settings
        tokens = (s.grid // 2) ** 2
        ms = 1000 * statistics.median(case.step_times)
        print(
            f"{case.label:<20} {count_parameters(case.model):>9,} {s.batch:>5} {tokens:>6} {ms:>9.1f} "
            f"{case.samples_per_s:>10.1f}"
        )
        by_label[case.label] = case
    if "tiny" in by_label:
        for label, case in by_label.items():
            if label != "tiny":
                print(f"ratio {label} / tiny samples/s = {case.samples_per_s / by_label['tiny'].samples_per_s:.3f}x")
    if device.type == "cuda":
        print(f"peak CUDA memory: {torch.cuda.max_memory_allocated(device) / 2**20:.0f} MiB")


if __name__ == "__main__":
    main()
