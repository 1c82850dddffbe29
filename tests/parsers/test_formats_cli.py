"""The DETR-family real files of fixtures/real/set3 through every command of the real CLI
(parse, diagnose, compare, report, watch --once): each is read as what it is — never refused
as "not a training log", never read as another format with nothing understood — and the
counts the commands print are the files' own (set3/README.md). The aux-missing rule works
on DETR's per-layer loss names: a DETR log with its aux losses removed, whose arguments say
how many decoder layers it has, gets aux-missing; without the arguments it cannot know, and
says nothing."""

import json
import re
import shutil

import pytest
from click.testing import CliRunner
from repo_paths import REAL_SET3

from bevlog.cli import cli

H = REAL_SET3 / "holtin__detr__outputs_log.txt"
L = REAL_SET3 / "lele56__swin---detr__outputs_log.txt"
P = REAL_SET3 / "maxploter__DePerceiver__de_perceiver_r50_log.txt"
R = REAL_SET3 / "rarefin__detr__outputs_log.txt"
T = REAL_SET3 / "Hammer-888__rtdetr-pytorch__output_rtdetr_pvt_small_6x_coco_improved_log.txt"
B = REAL_SET3 / "William-Yao-2000__Deformable-DETR-Bezier__log_log_v002.txt"
D = REAL_SET3 / "IDEA-Research__detrex__projects_detr_output"
EVENTS = sorted(D.glob("events.out.tfevents.*"))
# path: (format, runs, train rows of all runs, evaluation values of all runs), set3/README.md
EXPECTED = {
    H: ("detr-json", 1, 300, 17100),
    L: ("detr-json", 9, 347 - 4 - 2, 28454),  # 6 re-run epochs' rows replaced, all evaluations kept
    P: ("detr-json", 1, 150, 3300),
    R: ("detr-json", 1, 46, 782),
    T: ("detr-json", 9, 302, 3643),
    B: ("detr-console", 1, 945, 840),
    D / "metrics.json": ("detectron2-json", 7, 86, 0),
    D / "log.txt": ("detectron2-console", 8, 86, 6),
    D: ("detectron2-console", 8, 86, 6),
    EVENTS[-1]: ("tfevents", 1, 38, 0),
}


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def _diagnosis(*args):
    result = invoke("diagnose", *args, "--format", "json", "--with-config")
    assert result.exit_code in (0, 1), result.output
    return json.loads(result.stdout)["runs"]


@pytest.mark.parametrize("path", list(EXPECTED), ids=lambda p: str(p.relative_to(REAL_SET3)))
def test_parse_reads_what_the_file_holds(path):
    fmt, n_runs, rows, evals = EXPECTED[path]
    result = invoke("parse", path, "--format", "json", "--frame", "train")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert len(out["runs"]) == n_runs and {r["format"] for r in out["runs"]} == {fmt} and out["problems"] == []
    assert len(out["rows"]) == rows == sum(r["rows"] for r in out["runs"])
    result = invoke("parse", path, "--format", "json", "--frame", "evals")
    assert len(json.loads(result.stdout)["rows"]) == evals
    table = invoke("parse", path, "--wide").output
    assert table.count(fmt) == n_runs
    runs = _diagnosis(path)
    assert len(runs) == n_runs and {r["meta"]["format"] for r in runs} == {fmt}


@pytest.mark.parametrize("path", [H, R, B, EVENTS[-1]], ids=lambda p: p.name[:20])
def test_watch_once_and_report(path, tmp_path):
    """watch follows one run: a file of one run (the detectron2 console holds 8, and in its
    folder the event files are the console's twins); an event file in a folder of its own."""
    if path.parent == D:
        shutil.copy(path, tmp_path / path.name)
        path = tmp_path / path.name
    result = invoke("watch", path, "--once")
    assert result.exit_code in (0, 1), result.output
    out = tmp_path / "report.html"
    result = invoke("report", path, "-o", out)
    assert result.exit_code == 0, result.output
    html = out.read_text()
    assert (
        "Content-Security-Policy" in html and (path.parent.name if path.parent == tmp_path else path.name[:20]) in html
    )


def test_compare_two_detr_runs():
    result = invoke("compare", H, P, "--metric", "AP")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "holtin__detr__outputs_log" in out and "maxploter__DePerceiver__de_perceiver_r50_log" in out
    assert re.search(r"aux losses\s+│\s+True\s+│\s+False", out)  # the settings that differ


@pytest.mark.slow  # every real file of set3
def test_every_real_file_of_set3_diagnoses_without_a_problem_line():
    paths = [H, L, P, R, T, B, D]
    result = invoke("diagnose", *paths, "--format", "json")
    assert result.exit_code in (0, 1) and json.loads(result.stdout)["problems"] == []
    # no problem line: each file read as what it is; the notes say which rows the resumes re-ran
    assert [line for line in result.stderr.splitlines() if not line.startswith("note: ")] == []
    assert result.stderr.count("were logged again after the resume") == 2
    assert len(json.loads(result.stdout)["runs"]) == sum(EXPECTED[p][1] for p in paths)


def _strip_aux(row: dict) -> dict:
    return {k: v for k, v in row.items() if not re.search(r"_loss_[a-z]+_\d+(_unscaled)?$", k)}


def test_detr_log_without_aux_losses_gets_aux_missing(tmp_path):
    rows = [_strip_aux(json.loads(line)) for line in H.read_text().splitlines()]
    assert not any(re.search(r"_\d+$", k) for k in rows[0] if "loss" in k)
    (tmp_path / "log.txt").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (run,) = _diagnosis(tmp_path / "log.txt")
    assert "aux-missing" not in [f["rule"] for f in run["findings"]]  # the layer count is not in log.txt
    # DINO's arguments beside it say: 6 decoder layers, aux losses off
    args = {"lr": 1e-4, "batch_size": 2, "epochs": 300, "lr_drop": 200, "dec_layers": 6, "aux_loss": False}
    (tmp_path / "config_args_all.json").write_text(json.dumps(args, indent=2))
    (run,) = _diagnosis(tmp_path / "log.txt")
    aux = [f for f in run["findings"] if f["rule"] == "aux-missing"]
    assert len(aux) == 1 and "6 layers" in aux[0]["message"]
    assert run["meta"]["num_decoder_layers"] == 6 and run["meta"]["has_aux_loss"] is False
    assert run["meta"]["config"] == args and run["meta"]["max_epochs"] == 300


def test_detr_console_without_aux_losses_gets_aux_missing(tmp_path):
    text = B.read_text()
    text = re.sub(
        r"  (?:loss|cardinality_error)_[a-z]+_\d+(?:_unscaled)?: \S+ \(\S+\)|  loss_[a-z]+_\d+_unscaled: \S+ \(\S+\)",
        "",
        text,
    )
    text = text.replace("aux_loss=True", "aux_loss=False")
    assert not re.search(r"loss_ce_\d", text)
    p = tmp_path / "nohup.out"
    p.write_text(text)
    (run,) = _diagnosis(p)
    aux = [f for f in run["findings"] if f["rule"] == "aux-missing"]
    assert len(aux) == 1 and run["meta"]["num_decoder_layers"] == 6 and run["meta"]["has_aux_loss"] is False
    # the real capture, with its aux losses: no aux-missing
    (run,) = _diagnosis(B)
    assert "aux-missing" not in [f["rule"] for f in run["findings"]]


def test_the_layer_rules_read_detr_layers(tmp_path):
    """layer-* rules see DETR's layers (`_0`… intermediate, the unsuffixed term the last): a
    copy of holtin's log with the first and the last layer's classification loss swapped
    (refinement that makes it worse) gets layer-inversion; the real log does not."""
    rows = [json.loads(line) for line in H.read_text().splitlines()]
    for r in rows:
        r["train_loss_ce"], r["train_loss_ce_0"] = r["train_loss_ce_0"], r["train_loss_ce"]
    (tmp_path / "swapped").mkdir()
    (tmp_path / "swapped" / "log.txt").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "real").mkdir()
    shutil.copy(H, tmp_path / "real" / "log.txt")
    runs = _diagnosis(tmp_path / "swapped" / "log.txt", tmp_path / "real" / "log.txt")
    rules = [[f["rule"] for f in r["findings"]] for r in runs]
    assert [("layer-inversion" in x) for x in rules] == [True, False]
