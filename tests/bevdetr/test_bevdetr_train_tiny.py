"""A real tiny-preset training through the installed `bevdetr` entry point: it learns (mAP >=
TINY_MIN_MAP after its 1,200 iterations, about a minute on one CPU thread, a threshold the spread
over seeds and torch threads clears by >= 3 sd, checked here on the committed logs of that spread),
and what it wrote is mmcv's log."""

import ast
import glob
import math
import os
import re
import subprocess

import pytest
import torch
from bevdetr_logformat import RECORD, assert_text_and_json_agree, epoch_lines, items, read_json_rows

from bevdetr.config import make_schedule
from bevdetr.presets import TINY_MIN_MAP, make_settings
from bevdetr.train import build_model

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("tiny")
    proc = subprocess.run(
        ["bevdetr", "train", "--preset", "tiny", "--work-dir", str(work), "--progress"],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    (log,) = glob.glob(str(work / "*.log"))
    return work, log, proc


def train_values(log, key):
    return [items(m)[key] for kind, m in epoch_lines(log) if kind == "train"]


def debiased_ema(values, weight=0.6):
    out, last = [], 0.0
    for i, v in enumerate(values, 1):
        last = last * weight + (1 - weight) * v
        out.append(last / (1 - weight**i))
    return out


def header_records(log):
    """The text of each record before the first train line (multi-line records joined)."""
    records = []
    with open(log) as f:
        for line in f:
            m = RECORD.match(line.rstrip("\n"))
            if m:
                if "Epoch [" in m["message"]:
                    break
                records.append(m["message"])
            else:
                records[-1] += "\n" + line.rstrip("\n")
    return records


def test_work_dir_holds_one_log_pair_and_checkpoints(tiny_run):
    work, log, _ = tiny_run
    stem = os.path.basename(log)[:-4]
    assert re.fullmatch(r"\d{8}_\d{6}", stem)
    checkpoints = [f"epoch_{e}.pth" for e in range(1, 13)] + [f"epoch_{e}.evaluated" for e in (6, 12)]
    assert sorted(os.listdir(work)) == sorted([f"{stem}.log", f"{stem}.log.json", "latest.pth"] + checkpoints)
    assert os.readlink(work / "latest.pth") == "epoch_12.pth"


def test_tiny_learns(tiny_run):
    """The preset's purpose: a detector that detects, not a loss that falls. mAP (nuScenes centre
    distance, 0.5/1/2/4 m) of the last evaluation on the 512 validation scenes; TINY_MIN_MAP is far
    above chance and >= 3 sd below the spread of seeds and threads (test_bevdetr_tiny_spread.py)."""
    _, log, _ = tiny_run
    maps = [items(m)["bevdetr/mAP"] for kind, m in epoch_lines(log) if kind == "val"]
    assert maps[-1] >= TINY_MIN_MAP, maps
    assert maps[-1] > maps[0]


def test_smoothed_loss_falls_clearly(tiny_run):
    _, log, _ = tiny_run
    loss = debiased_ema(train_values(log, "loss"))
    assert len(loss) == 60
    assert loss[-1] < 0.8 * loss[0], loss
    bbox = debiased_ema(train_values(log, "loss_bbox"))
    assert bbox[-1] < 0.9 * bbox[0], bbox


def test_train_and_val_lines_have_mmcv_structure(tiny_run):
    _, log, _ = tiny_run
    lines = epoch_lines(log)
    assert all(m is not None for _, m in lines), [kind for kind, m in lines if m is None]
    train = [m for kind, m in lines if kind == "train"]
    val = [m for kind, m in lines if kind == "val"]
    assert [(int(m["epoch"]), int(m["iter"]), int(m["n"])) for m in train] == [
        (e, i, 100) for e in range(1, 13) for i in (20, 40, 60, 80, 100)
    ]
    assert [(int(m["epoch"]), int(m["n"])) for m in val] == [(6, 64), (12, 64)]  # ceil(512 / 8) batches
    layers = make_settings("tiny").layers
    earlier = range(layers - 1)  # losses: d0 … d{L-2}, the last unprefixed
    losses = ["loss_cls", "loss_bbox"] + [f"d{k}.loss_{t}" for k in earlier for t in ("cls", "bbox")]
    attention = [f"d{k}.attn_{t}" for k in range(layers) for t in ("entropy", "logit_max")]  # every layer d<k>.
    for m in train:
        assert m["logger"] == "mmdet" and m["memory"] is None  # no CUDA, no memory key
        assert list(items(m)) == losses + ["loss", "grad_norm"] + attention
        parts = items(m)
        # 2 terms a layer and the total, each rounded to 4 decimals in the text line
        assert parts["loss"] == pytest.approx(sum(v for k, v in parts.items() if "loss_" in k), abs=7e-4)
    assert train[-1]["eta"] == "0:00:00"
    for m in val:
        metrics = items(m)
        assert list(metrics)[-1] == "bevdetr/mAP" and len(metrics) == 4 * 4 + 1
        assert 0.0 <= metrics["bevdetr/mAP"] <= 1.0


def test_logged_lr_follows_warmup_and_schedule(tiny_run):
    _, log, _ = tiny_run
    settings = make_settings("tiny")
    schedule = make_schedule(settings, 100)
    logged = [(int(m["epoch"]), int(m["iter"]), m["lr"]) for kind, m in epoch_lines(log) if kind == "train"]
    for epoch, it, text in logged:
        global_iter = (epoch - 1) * 100 + it - 1  # lr of the interval's last iteration, as mmcv logs it
        assert text == f"{schedule.lr(global_iter, epoch - 1):.3e}"
    assert logged[0][2] == "4.600e-04"  # 1e-3 * (1 - (1 - 19/100) * 2/3): still warming up at iteration 20


def test_every_line_is_a_record_or_part_of_one(tiny_run):
    _, log, _ = tiny_run
    with open(log) as f:
        text = f.read()
    assert RECORD.match(text.splitlines()[0])
    assert "\r" not in text and "█" not in text  # the progress bar stays on the terminal
    records = [line for line in text.splitlines() if RECORD.match(line)]
    assert len(records) >= 60 + 2 + 6


def test_header_is_the_one_mmcv_writes(tiny_run):
    work, log, _ = tiny_run
    records = header_records(log)
    assert records[0].startswith("Environment info:\n" + "-" * 60 + "\nsys.platform: ")
    assert records[0].endswith("-" * 60 + "\n")  # mmdet's message ends in a newline: a blank line follows
    assert "CUDA available: False" in records[0]
    # which instruction set torch's kernels used: runs differ in their last bits between, say, AVX2 and AVX512
    assert f"\nCPU capability: {torch.backends.cpu.get_cpu_capability()}\n" in records[0]
    assert "\nCPU: " in records[0]
    assert records[1] == "Distributed training: False"
    assert records[2].startswith("Config:\n")
    config = {node.targets[0].id: node.value for node in ast.parse(records[2][len("Config:\n") :]).body}
    assert ast.unparse(config["gpu_ids"]) == "range(0, 1)"
    assert ast.literal_eval(config["total_batch_size"]) == 8
    assert ast.literal_eval(config["total_epochs"]) == 12
    recipe = {kw.arg: ast.literal_eval(kw.value) for kw in config["bevdetr_recipe"].keywords}
    assert recipe["total_batch"] == 8 and recipe["optimizer"] == "AdamW" and recipe["lr"] > 0
    assert ast.literal_eval(config["workflow"]) == [("train", 1)]
    data = {kw.arg: kw.value for kw in config["data"].keywords}
    assert ast.literal_eval(data["samples_per_gpu"]) == 8
    assert ast.literal_eval(config["bevdetr"].keywords[0].value) == "tiny"
    assert records[3] == "Set random seed to 0, deterministic: False"
    assert records[4].startswith("Model:\nBEVDETR(")
    assert records[5] == f"Start running, host: {records[5].split('host: ')[1].split(',')[0]}, work_dir: {work}"
    assert records[6].startswith("Hooks will be executed in the following order:\nbefore_run:\n(VERY_HIGH   ) ")
    assert records[7] == "workflow: [('train', 1)], max: 12 epochs"
    assert records[8] == f"Checkpoints will be saved to {work} by HardDiskBackend."


def test_exp_name_precedes_end_of_epoch_lines_and_checkpoints_are_announced(tiny_run):
    _, log, _ = tiny_run
    with open(log) as f:
        messages = [m["message"] for m in map(RECORD.match, f.read().splitlines()) if m]
    for i, msg in enumerate(messages):
        if msg.startswith("Epoch(val)") or msg.startswith("Epoch [") and "][100/100]" in msg:
            assert messages[i - 1] == "Exp name: bevdetr_tiny.py"
    assert [m for m in messages if m.startswith("Saving checkpoint")] == [
        f"Saving checkpoint at {e} epochs" for e in range(1, 13)
    ]


def test_text_and_json_logs_agree(tiny_run):
    _, log, _ = tiny_run
    assert assert_text_and_json_agree(log, log + ".json") == 60 + 2
    meta = read_json_rows(log + ".json")[0]
    assert list(meta) == ["env_info", "config", "seed", "exp_name"]
    assert meta["exp_name"] == "bevdetr_tiny.py" and meta["seed"] == 0
    assert "Config:\n" + meta["config"] in open(log).read()


def test_terminal_gets_a_bar_and_a_summary(tiny_run):
    _, log, proc = tiny_run
    assert "█" in proc.stderr and "1200/1200" in proc.stderr
    assert f"log: {log}" in proc.stdout
    assert re.search(
        r"trained 1200 iterations \(the run is at iteration 1200, epoch 12\) on 1 cpu process\(es\): "
        r".* [\d.]+ samples/s",
        proc.stdout,
    )
    assert "mAP (centre distance 0.5/1/2/4 m): " in proc.stdout


def test_checkpoint_loads_with_weights_only(tiny_run):
    work, _, _ = tiny_run
    ckpt = torch.load(work / "latest.pth", weights_only=True)
    assert ckpt["meta"]["epoch"] == 12 and ckpt["meta"]["iter"] == 1200
    model = build_model(make_settings("tiny"))
    model.load_state_dict(ckpt["state_dict"])
    assert all(math.isfinite(float(p.detach().abs().sum())) for p in model.parameters())


def test_the_config_dump_regenerates_the_run_settings(tiny_run):
    parsers = pytest.importorskip("parsers")
    from bevdetr.presets import settings_from_dict

    work, _, _ = tiny_run
    run = parsers.read(str(work))
    assert settings_from_dict(run.meta["config"]["bevdetr"]) == make_settings("tiny")
    assert (run.meta["num_gpus"], run.meta["total_batch"], run.meta["num_decoder_layers"]) == (1, 8, 3)
    assert run.meta["has_aux_loss"] is True and run.meta["grad_clip"] == 35.0
    assert len(run.train) == 60 and run.evals["metric"].str.endswith("mAP").sum() == 2
