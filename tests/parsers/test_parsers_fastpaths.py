"""The vectorised fast paths agree with plain per-line parsing on real logs, and the
lines they hand back (several optimizers, odd values) are still read correctly."""
import json
import math
import re

import numpy as np
import pyarrow as pa
import pytest
from parsers_testlib import BEVFUSION, DETR3D, MMENGINE, STREAMPETR, real

import parsers
from parsers.json_rows import parse_rows
from parsers.mmcv_train_lines import parse_train_lines

LINE = re.compile(r"^\S+ \S+ - \S+ - INFO - (?:Epoch \[\d+\]\[\d+/\d+\]|Iter \[\d+/\d+\])\t(.*)$")


def _per_line(lines):
    """A deliberately plain reference: regex + split per line."""
    rows = []
    for line in lines:
        body = re.sub(r"(\d+ days?), ", r"\1 ", LINE.match(line).group(1))
        rows.append({k: v for k, _, v in (item.partition(": ") for item in body.split(", ")) if k != "eta"})
    return rows


@pytest.mark.parametrize("stem", [DETR3D, STREAMPETR])
@pytest.mark.parametrize("threads", [1, 2])
def test_mmcv_fast_path_matches_per_line_parsing(stem, threads, monkeypatch):
    import parsers.mmcv_train_lines as mtl

    monkeypatch.setattr(mtl, "PARALLEL_FROM", 100)  # exercise the two-thread split on a small log
    text = real(f"{stem}.log").read_text()
    lines = [l for l in text.splitlines() if LINE.match(l)]
    ok, heads, names, values, present, eta_s, rejected = parse_train_lines(pa.array(lines, pa.large_string()), threads=threads)
    assert len(rejected) == 0 and len(ok) == len(lines)
    ref = _per_line(lines)
    for i, row in enumerate(ref):
        assert set(row) == {names[j] for j in np.flatnonzero(present[i])}
        for k, v in row.items():
            got = values[i, names.index(k)]
            assert (math.isnan(got) and v == "nan") or got == float(v), (i, k, got, v)


@pytest.mark.parametrize("name", [f"{DETR3D}.log.json", f"{STREAMPETR}.log.json", f"{BEVFUSION}.log.json", f"{MMENGINE}.json"])
def test_json_fast_path_matches_json_loads(name):
    lines = real(name).read_text().splitlines()
    rows = parse_rows(pa.array(lines, pa.large_string()), threads=2)
    ref = {i: json.loads(l) for i, l in enumerate(lines)}
    assert set(rows.ok_rows) | set(rows.rejected) == set(ref)
    meta_like = [i for i in rows.rejected if not any(k in ref[i] for k in ("mode", "step"))]
    assert list(rows.rejected) == meta_like  # only the meta line goes the slow way
    for r, i in enumerate(rows.ok_rows):
        numbers = {k: v for k, v in ref[i].items() if isinstance(v, (int, float))}
        assert {rows.names[j] for j in np.flatnonzero(rows.present[r])} == set(numbers)
        for k, v in numbers.items():
            got = rows.values[r, rows.names.index(k)]
            assert got == v or (math.isnan(got) and math.isnan(v)), (i, k, got, v)
        for k, v in ref[i].items():
            if isinstance(v, str):
                assert rows.strings[k][r] == v


def test_lines_handed_back_are_read_by_the_generic_parser(tmp_path):
    """Several optimizers (`lr_a: … lr_b: …`) and a non-number among many normal lines."""
    data = real(f"{STREAMPETR}.log").read_text()
    lines = data.split("\n")
    train = [i for i, l in enumerate(lines) if " - INFO - Iter [" in l]
    multi = train[10:13]
    for i in multi:
        lines[i] = re.sub(r"\tlr: ([0-9.e+-]+), ", r"\tlr_img_backbone: 1.000e-05 lr_head: \1, ", lines[i])
    odd = train[20]
    lines[odd] = lines[odd].replace("grad_norm: ", "grad_norm: n/a ", 1)
    p = tmp_path / "20230725_174411.log"
    p.write_text("\n".join(lines))
    run = parsers.read(str(p))
    t = run.train
    assert len(t) == 843
    assert list(t.columns[16:18]) == ["frame_0_loss_cls", "frame_0_loss_bbox"]
    assert "lr_img_backbone" in t.columns and "lr_head" in t.columns
    rows = t.iloc[10:13]
    assert (rows.lr_img_backbone == 1e-5).all()
    assert (rows.lr == rows.lr_img_backbone).all()  # lr = the first optimizer's
    assert rows.lr_head.notna().all()
    assert np.isnan(t.grad_norm.iloc[20]) and t.loss.iloc[20] > 0
    assert run.meta["skipped"] == {"non-numeric field: grad_norm": 1}


@pytest.mark.parametrize("name", [f"{DETR3D}.log", f"{STREAMPETR}.log.json"])
def test_small_chunks_give_the_same_run(monkeypatch, name):
    """Big logs are read in chunks on two threads; chunk borders change nothing."""
    from parsers_testlib import read_cached

    import parsers.lines

    whole = read_cached(real(name))
    monkeypatch.setattr(parsers.lines, "CHUNK", 50_000)
    chunked = parsers.read(str(real(name)))
    for frame in ("train", "layers", "evals"):
        a, b = getattr(whole, frame), getattr(chunked, frame)
        assert a.shape == b.shape
        for c in a.columns:
            if a[c].dtype.kind == "f":
                assert np.array_equal(a[c].to_numpy(), b[c].to_numpy(), equal_nan=True), (frame, c)
            else:
                assert list(a[c]) == list(b[c]), (frame, c)
    assert whole.meta["skipped"] == chunked.meta["skipped"]
    assert whole.meta["config"] == chunked.meta["config"]


@pytest.mark.parametrize("name", [f"{DETR3D}.log", f"{STREAMPETR}.log.json"])
def test_lazy_layers_frame_equals_the_eager_one_and_survives_pickling(name):
    """`Run.layers` is built on first read; before that the Run pickles with its builder
    (runs cross process pools) and the frame built on the other side is the same."""
    import pickle

    from parsers import layers as layers_mod
    from parsers.assemble import build_run
    from parsers.reader import read_segment

    seg = read_segment(str(real(name)))
    present = dict(zip(seg.keys, (seg.present.T if seg.present is not None else ~np.isnan(seg.values).T)))
    run = build_run([seg], "r", [name])
    assert isinstance(run.__dict__["_layers"], layers_mod.LazyLayers)  # not built yet
    shipped = pickle.loads(pickle.dumps(run))
    eager = layers_mod.long_frame(run.train, present, "r", layers_mod_config_layers(run))
    for got in (run.layers, shipped.layers):
        assert got.shape == eager.shape and len(got) > 0
        assert list(got.columns) == list(eager.columns)
        for c in eager.columns:
            if eager[c].dtype.kind == "f":
                assert np.array_equal(got[c].to_numpy(), eager[c].to_numpy(), equal_nan=True), c
            else:
                assert list(got[c]) == list(eager[c]), c
    assert run.layers is run.layers  # cached


def layers_mod_config_layers(run):
    from parsers import meta as M

    return M.decoder_layers(run.meta["config"])
