"""DETR's console output (fixtures/real/set3 entry 6, a Deformable-DETR nohup capture): the
reader gives what grep finds (set3/README.md, "DETR console capture", has each command):

  train rows          grep -cE '^Epoch: \\[[0-9]+\\]  \\[ *[0-9]+/[0-9]+\\]' B        -> 945
  evaluation progress grep -cE '^Test:  \\[' B                                    -> 120
  test averages       grep -A1 '^Test: Total time' B | grep '^Averaged stats' \\
                        | grep -oE '[A-Za-z_0-9]+: [-0-9.e+]+ \\(' | wc -l          -> 660
  COCO summary lines  grep -cE '^ Average (Precision|Recall)' B                  -> 180
The values are derived here from the file with plain regexes, independently of the reader.
"""

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from repo_paths import REAL_SET3

import parsers
from parsers import read_file
from parsers.formats import detr_console
from parsers.formats.detr_console import read_records

B = REAL_SET3 / "William-Yao-2000__Deformable-DETR-Bezier__log_log_v002.txt"
RECORD = re.compile(r"^Epoch: \[(\d+)\]  \[ *(\d+)/(\d+)\]  eta: (.*?)  (.*)$")


@pytest.fixture(scope="module")
def launch():
    (d,) = read_records(str(B), B.read_text())
    return d


def test_sniffed():
    assert detr_console.sniff(B.read_bytes()[: 1 << 20])


def test_rows_are_the_metric_logger_records(launch):
    lines = B.read_text().splitlines()
    records = [(no, RECORD.match(line)) for no, line in enumerate(lines, 1) if RECORD.match(line)]
    assert launch.rows == len(records) == 945
    assert launch.lines == [no for no, _ in records]
    assert launch.epoch == [int(m.group(1)) + 1 for _, m in records]  # the log counts from 0, the frames from 1
    assert launch.iter == [int(m.group(2)) + 1 for _, m in records]  # iterations done
    assert set(launch.n) == {30953.0}
    # `cur (avg)`: the row takes cur; single values as printed; renamed time/data/max mem
    for values, (_, m) in zip(launch.values, records):
        body = m.group(5)
        assert values["loss"] == float(re.search(r"(?:^|  )loss: (\S+) \(", body).group(1))
        assert values["loss_ce_3"] == float(re.search(r"  loss_ce_3: (\S+) \(", body).group(1))
        assert values["lr"] == float(re.search(r"(?:^|  )lr: (\S+)", body).group(1))
        assert values["grad_norm"] == float(re.search(r"  grad_norm: (\S+)", body).group(1))
        assert values["data_time"] == float(re.search(r"  data: (\S+)", body).group(1))
        assert values["memory"] == float(re.search(r"  max mem: (\S+)", body).group(1))
    days = [d for d, (_, m) in zip(launch.eta_s, records) if "day" in m.group(4)]
    assert len(days) == 14 and min(days) >= 86400
    assert launch.eta_s[0] == 4 * 86400 + 6 * 3600 + 29 * 60 + 58  # `eta: 4 days, 6:29:58`


def test_evaluations_coco_by_content_and_test_averages(launch):
    text = B.read_text()
    ap = [
        float(v)
        for v in re.findall(
            r"^ Average Precision  \(AP\) @\[ IoU=0\.50:0\.95 \| area=   all \| maxDets=100 \] = (\S+)", text, re.M
        )
    ]
    assert [(e.epoch, e.value) for e in launch.evals if e.metric == "AP"] == [(k + 1, v) for k, v in enumerate(ap)]
    names = [e.metric for e in launch.evals if e.epoch == 1 and not e.metric.startswith("test_")]
    # this fork prints AR at IoU 0.50 and 0.75 where pycocotools prints maxDets 1 and 10
    assert names == ["AP", "AP50", "AP75", "APs", "APm", "APl", "AR100", "AR50", "AR75", "ARs", "ARm", "ARl"]
    tests = [e for e in launch.evals if e.metric.startswith("test_")]
    assert len(tests) == 660 and len(launch.evals) == 660 + 180
    first = re.search(r"^Test: Total time.*\nAveraged stats: (.*)$", text, re.M).group(1)
    assert {e.metric: e.value for e in tests if e.epoch == 1} == {
        "test_" + k: float(avg) for k, avg in re.findall(r"(?:^|  )(\w+): \S+ \((\S+)\)", first)
    }
    assert launch.skipped["evaluation progress line (`Test:  [i/n]`)"] == 120
    assert launch.skipped["evaluation field printed as its last batch only (no average)"] == 15
    assert launch.skipped["epoch summary (`Averaged stats:` of the rows above)"] == 15
    # an evaluation follows its epoch's last row
    assert [e.after_row for e in launch.evals if e.metric == "AP"] == [63 * (k + 1) - 1 for k in range(15)]


def test_namespace_args(launch):
    args = launch.fields["args"]
    assert {
        k: args[k]
        for k in (
            "lr",
            "lr_backbone",
            "batch_size",
            "world_size",
            "epochs",
            "lr_drop",
            "dec_layers",
            "aux_loss",
            "clip_max_norm",
            "weight_decay",
            "sgd",
            "seed",
        )
    } == {
        "lr": 4e-05,
        "lr_backbone": 4e-06,
        "batch_size": 2,
        "world_size": 4,
        "epochs": 15,
        "lr_drop": 12,
        "dec_layers": 6,
        "aux_loss": True,
        "clip_max_norm": 0.1,
        "weight_decay": 0.0001,
        "sgd": False,
        "seed": 42,
    }
    assert launch.fields["seed"] == 42 and "resumes" not in launch.fields  # resume='' in the args


def test_the_run_its_args_and_positions(engine):
    """Meta from the printed arguments (set3/README.md entry 6: 4 GPUs × batch 2, lr 4e-5,
    15 epochs, lr drop at 12, 6 decoder layers with aux losses, clip 0.1)."""
    (seg,) = read_file(str(B), engine=engine)
    assert (seg.format, seg.library, seg.runner, seg.epoch_base, seg.epoch_rows) == (
        "detr-console",
        "detr",
        "epoch",
        0,
        False,
    )
    run = parsers.read(str(B))
    m = run.meta
    assert (m.lr, m.samples_per_gpu, m.num_gpus, m.total_batch, m.max_epochs) == (4e-05, 2, 4, 8, 15)
    assert (m.optimizer, m.weight_decay, m.grad_clip, m.num_decoder_layers, m.has_aux_loss) == (
        "AdamW",
        0.0001,
        0.1,
        6,
        True,
    )
    assert m.lr_schedule.steps == (12,) and m.lr_schedule.policy == "step" and m.lr_schedule.by_epoch
    assert (m.iters_per_epoch, m.step_unit, m.epoch_base, m.seed, m.ended) == (30953, "iteration", 0, 42, "finished")
    assert m.config["dec_layers"] == 6  # the arguments are the run's config
    t = run.train
    # `Epoch: [14]  [30952/30953]` (the last record): 15 epochs done
    assert t["epoch_f"].iloc[-1] == 15 and t["step"].iloc[-1] == 15 * 30953
    assert np.array_equal(t["samples"], t["step"] * 8)
    assert (t["lr"] == 4e-06).sum() == 189  # epochs 12-14 of the log (13-15 here), after the drop
    ap = run.evals[run.evals["metric"] == "AP"]
    assert np.array_equal(ap["epoch"], np.arange(1, 16)) and np.array_equal(ap["step"], np.arange(1, 16) * 30953)


def test_two_launches_and_ansi(tmp_path):
    """A second Namespace starts a launch; colour codes and a progress bar's \\r are no
    obstacle (no real capture has them: derived from entry 6)."""
    lines = B.read_text().splitlines(keepends=True)
    first_epoch = [i for i, line in enumerate(lines) if line.startswith("Epoch: [1]  [")][0]
    head = lines[:first_epoch]
    coloured = [("\x1b[32m" + x.rstrip("\n") + "\x1b[0m\n") if x.startswith("Epoch: [") else x for x in head]
    p = tmp_path / "nohup.out"
    p.write_text("".join(head) + "".join(coloured).replace("Epoch: [0]  [    0/", "partial\rEpoch: [0]  [    0/"))
    a, b = read_records(str(p), p.read_text())
    assert a.rows == b.rows == 63 and a.values == b.values
    assert b.first_line == len(head) + 30  # its Namespace line


def test_a_namespace_that_is_not_literal_is_read_safely():
    from parsers.formats.namespace import read_namespace

    assert read_namespace("Namespace(device=device(type='cuda'), lr=1e-4, f=__import__('os'))") == {
        "device": "device(type='cuda')",
        "lr": 1e-4,
        "f": "__import__('os')",
    }
    assert read_namespace("Namespace(lr=1e-4") is None  # cut short


def _fields_as_first_written(body: str):
    """The first implementation of `detr_console.fields`, kept as the reference."""
    out, bad = {}, 0
    for part in body.split("  "):
        part = part.strip()
        if not part:
            continue
        m = detr_console.FIELD.match(part)
        if m is None:
            bad += 1
            continue
        cur = _float_or_nan(m.group("cur"))
        avg = _float_or_nan(m.group("avg")) if m.group("avg") else float("nan")
        if cur != cur and m.group("cur").lower() != "nan":
            bad += 1
            continue
        key = m.group("key")
        out[detr_console.RENAME.get(key, key)] = (cur, avg)
    return out, bad


def _float_or_nan(text):
    try:
        return float(text)
    except ValueError:
        return float("nan")


def _same(got, want):
    assert got[1] == want[1]
    assert list(got[0]) == list(want[0])
    for key, (cur, avg) in want[0].items():
        np.testing.assert_array_equal(got[0][key], (cur, avg), err_msg=key)


def test_fields_are_read_as_the_reference_reads_them():
    """Every record body of the capture, read one after the other as `read_records` reads them
    (the layout of one body tried first on the next), and bodies of odd parts after each: a
    number the float parser reads but the log did not write as `nan` (`-nan`), `NaN`, `inf`,
    an average that is no number, a key with a space, a part with no value, one space or three
    between fields,
    a field more or less, an average where the layout has none, a tab, a no-break space."""
    train_line = detr_console.TRAIN_LINE.match
    bodies = [m.group("body") for line in B.read_text().splitlines() if (m := train_line(line))]
    assert len(bodies) == 945
    layout = "  lr: 0.1  loss: {v}  max mem: 7284  data: {v} (1)"
    odd_values = ["nan", "NaN", "-nan", "+nan", "inf", "-inf", "1e5", "x", "1,5", "0.5 (nan)", "2 (x)", "3 (4)", ""]
    odd = [layout.format(v="0.5")]
    for v in odd_values:
        odd += [
            layout.format(v=v),
            layout.format(v=v) + "  time:  grad norm: 1 (2)",
            layout.format(v=v).replace("  data", "   data"),
            layout.format(v=v).replace("  data", " data"),
            layout.format(v=v).replace("7284", "7284 (1)"),
            layout.format(v=v).replace("  lr", "\tlr"),
            layout.format(v=v).replace("0.1", "0.1\xa0"),
            layout.format(v=v).replace("  loss", "  loss: 1  loss"),
            layout.format(v="0.5"),
        ]
    reader = detr_console.FieldReader()
    for body in bodies + odd + bodies[:5]:
        want = _fields_as_first_written(body)
        _same(reader(body), want)
        _same(detr_console.fields(body), want)


_PARTS = [
    "lr: 0.1",
    "lr: 0.1 (0.2)",
    "max mem: 7284",
    "loss: nan (1)",
    "loss: -nan",
    "loss: x",
    "a b: 1)",
    "k: 1 (2))",
    "k:1",
    "(3)",
    "k: 1 (2) (3)",
    "lr: 2",
    "max mem: 1 (x)",
    "é: 1",
    "",
]
_SEPS = ["  ", "  ", "  ", " ", "   ", "\t", "  \xa0"]


@st.composite
def _body(draw):
    parts = draw(st.lists(st.sampled_from(_PARTS), max_size=6))
    seps = draw(st.lists(st.sampled_from(_SEPS), min_size=len(parts), max_size=len(parts)))
    return "".join(sep + part for sep, part in zip(seps, parts))


@settings(max_examples=300, deadline=None)
@given(st.lists(_body(), min_size=1, max_size=8))
def test_field_reader_reads_generated_bodies_as_the_reference(bodies):
    """Bodies of a few kinds of parts and separators, one after the other (each body's layout
    tried on the next ones, and on itself again)."""
    reader = detr_console.FieldReader()
    for body in bodies + bodies:
        _same(reader(body), _fields_as_first_written(body))


def test_a_layout_of_more_fields_than_the_bound_is_read_part_by_part():
    """A line of thousands of fields (a hostile log) does not size a regex; it reads as the
    reference reads it."""
    from parsers.bounds import MAX_KEYS

    reader = detr_console.FieldReader()
    for n in (MAX_KEYS + 1, 5000):
        body = "".join(f"  k{i}: {i} ({i})" for i in range(n))
        _same(reader(body), _fields_as_first_written(body))
        assert reader._regex is None
    body = "".join(f"  k{i}: {i}" for i in range(MAX_KEYS))
    _same(reader(body), _fields_as_first_written(body))
    assert reader._regex is not None and reader._regex.match(body)
