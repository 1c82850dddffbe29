"""The `bevdetr` CLI: options reach the run, user errors exit 2 with one line, help stays light."""

import glob
import subprocess
import sys

import pytest
from bevdetr_logformat import epoch_lines, items
from click.testing import CliRunner

from bevdetr.cli import cli
from bevdetr.presets import make_settings

SHORT = ["train", "--preset", "tiny", "--epochs", "1", "--train-samples", "80", "--val-samples", "8", "--interval", "5"]


def run(args):
    return CliRunner().invoke(cli, args, catch_exceptions=False)


def one_log(work):
    (log,) = glob.glob(str(work / "*.log"))
    return log


def test_help_does_not_import_torch():
    code = (
        "import sys\nfrom bevdetr.cli import cli\n"
        "try:\n    cli(['train', '--help'], prog_name='bevdetr')\nexcept SystemExit as e:\n    assert e.code == 0\n"
        "print('TORCH', 'torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "TORCH False" in out
    for option in (
        "--preset",
        "--lr",
        "--batch",
        "--epochs",
        "--layers",
        "--no-aux",
        "--share-pe",
        "--seed",
        "--warmup-iters",
        "--schedule",
        "--clip",
        "--resume",
        "--work-dir",
    ):
        assert option in out


def test_installed_entry_point_answers():
    proc = subprocess.run(["bevdetr", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0 and "Usage: bevdetr" in proc.stdout and "train" in proc.stdout


@pytest.mark.slow
def test_no_aux_and_no_clip_log_only_the_final_layer(tmp_path):
    result = run(SHORT + ["--no-aux", "--clip", "0", "--work-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "█" not in result.output  # not a terminal: no progress bar
    log = one_log(tmp_path)
    train = [m for kind, m in epoch_lines(log) if kind == "train"]
    # losses of the final layer only; the attention statistics are logged for every layer all the same
    layers = make_settings("tiny").layers
    attention = [f"d{k}.attn_{t}" for k in range(layers) for t in ("entropy", "logit_max")]
    assert len(train) == 2 and all(list(items(m)) == ["loss_cls", "loss_bbox", "loss"] + attention for m in train)
    text = open(log).read()
    assert "aux_loss=False" in text and "optimizer_config = dict(grad_clip=None)" in text


@pytest.mark.slow
def test_shared_pe_and_depth_reach_the_model(tmp_path):
    result = run(
        SHORT
        + [
            "--share-pe",
            "--layers",
            "3",
            "--lr",
            "1e-3",
            "--schedule",
            "cosine",
            "--seed",
            "5",
            "--work-dir",
            str(tmp_path),
        ]
    )
    assert result.exit_code == 0, result.output
    log = one_log(tmp_path)
    train = [m for kind, m in epoch_lines(log) if kind == "train"]
    assert list(items(train[0])) == [
        "loss_cls",
        "loss_bbox",
        "d0.loss_cls",
        "d0.loss_bbox",
        "d1.loss_cls",
        "d1.loss_bbox",
        "loss",
        "grad_norm",
        "d0.attn_entropy",
        "d0.attn_logit_max",
        "d1.attn_entropy",
        "d1.attn_logit_max",
        "d2.attn_entropy",
        "d2.attn_logit_max",
    ]
    text = open(log).read()
    for fragment in (
        "share_pe=True",
        "num_layers=3",
        "policy='CosineAnnealing'",
        "Set random seed to 5,",
        "(cross_attn): MultiheadAttention(",
    ):
        assert fragment in text, fragment


@pytest.mark.torch  # trains in a subprocess
def test_bad_settings_exit_2_with_one_line(tmp_path):
    for args, expected in [
        (["--lr", "-1"], "lr=-1.0 is outside 1e-08..10000"),
        (["--batch", "0"], "batch=0 is outside 1..64"),
        (["--queries", "100000"], "queries=100000 is outside 1..300"),
        (["--layers", "13"], "layers=13 is outside 1..12"),
        (["--steps", "x"], "expected comma-separated epochs"),
        (["--resume"], "--resume found no checkpoint"),
        (["--resume", "--resume-from", "x.pth"], "either --resume or --resume-from"),
        (["--resume-from", str(tmp_path / "missing.pth")], "checkpoint not found"),
    ]:
        result = CliRunner().invoke(cli, ["train", "--preset", "tiny", "--work-dir", str(tmp_path / "w")] + args)
        assert result.exit_code == 2, (args, result.output)
        assert expected in result.output, (args, result.output)
        assert "Traceback" not in result.output


@pytest.mark.torch  # trains in a subprocess
def test_unreadable_or_mismatched_checkpoints_exit_2(tmp_path):
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a checkpoint")
    result = CliRunner().invoke(
        cli, ["train", "--preset", "tiny", "--work-dir", str(tmp_path / "w"), "--resume-from", str(bad)]
    )
    assert result.exit_code == 2 and "not a readable bevdetr checkpoint" in result.output
    assert len(result.output.strip().splitlines()) == 1


@pytest.mark.slow
def test_resume_with_other_settings_is_refused(tmp_path):
    assert run(SHORT + ["--work-dir", str(tmp_path)]).exit_code == 0
    result = CliRunner().invoke(
        cli, SHORT + ["--layers", "4", "--epochs", "2", "--work-dir", str(tmp_path), "--resume"]
    )
    assert result.exit_code == 2 and "does not fit these settings" in result.output


def test_cuda_requested_without_cuda(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    result = CliRunner().invoke(cli, ["train", "--preset", "tiny", "--device", "cuda", "--work-dir", str(tmp_path)])
    assert result.exit_code == 2 and "CUDA is not available" in result.output
