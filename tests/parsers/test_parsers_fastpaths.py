"""The vectorised fast paths agree with plain per-line parsing on real logs, and the
lines they hand back (several optimizers, odd values) are still read correctly."""

import json
import math
import re

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from parsers_testlib import BEVFUSION, DETR3D, MMENGINE, STREAMPETR, read_run, real

import parsers
from parsers.formats.jsonl.rows import parse_rows
from parsers.formats.text.mmcv_lines import parse_train_lines

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
def test_mmcv_fast_path_matches_per_line_parsing(stem, threads):
    text = real(f"{stem}.log").read_text()
    lines = [line for line in text.splitlines() if LINE.match(line)]
    # parallel_from=100: the two-thread split on a small log
    ok, heads, names, values, present, eta_s, rejected = parse_train_lines(
        pa.array(lines, pa.large_string()), threads=threads, parallel_from=100
    )
    assert len(rejected) == 0 and len(ok) == len(lines)
    ref = _per_line(lines)
    for i, row in enumerate(ref):
        assert set(row) == {names[j] for j in np.flatnonzero(present[i])}
        for k, v in row.items():
            got = values[i, names.index(k)]
            assert (math.isnan(got) and v == "nan") or got == float(v), (i, k, got, v)


@pytest.mark.parametrize(
    "name", [f"{DETR3D}.log.json", f"{STREAMPETR}.log.json", f"{BEVFUSION}.log.json", f"{MMENGINE}.json"]
)
def test_json_fast_path_matches_json_loads(name):
    lines = real(name).read_text().splitlines()
    rows = parse_rows(pa.array(lines, pa.large_string()), threads=2)
    ref = {i: json.loads(line) for i, line in enumerate(lines)}
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
    train = [i for i, line in enumerate(lines) if " - INFO - Iter [" in line]
    multi = train[10:13]
    for i in multi:
        lines[i] = re.sub(r"\tlr: ([0-9.e+-]+), ", r"\tlr_img_backbone: 1.000e-05 lr_head: \1, ", lines[i])
    odd = train[20]
    lines[odd] = lines[odd].replace("grad_norm: ", "grad_norm: n/a ", 1)
    p = tmp_path / "20230725_174411.log"
    p.write_text("\n".join(lines))
    run = parsers.read(str(p))
    t = run.train
    assert len(t) == 842  # the damaged line is not read: a value that is no number is not a nan
    assert list(t.columns[16:18]) == ["frame_0_loss_cls", "frame_0_loss_bbox"]
    assert "lr_img_backbone" in t.columns and "lr_head" in t.columns
    rows = t.iloc[10:13]
    assert (rows.lr_img_backbone == 1e-5).all()
    assert (rows.lr == rows.lr_img_backbone).all()  # lr = the first optimizer's
    assert rows.lr_head.notna().all()
    assert run.meta.skipped == {"train line with a damaged value: grad_norm": 1}
    assert run.meta.skipped_lines == {"train line with a damaged value: grad_norm": [f"{p}:{odd + 1}"]}


@pytest.mark.parametrize("name", [f"{DETR3D}.log", f"{STREAMPETR}.log.json"])
def test_small_chunks_give_the_same_run(name, engine):
    """Big logs are read in chunks on two threads; chunk borders change nothing."""
    whole = read_run(real(name), engine)
    chunked = read_run(real(name), engine, chunk=50_000)
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
    from parsers import read_file
    from parsers.assemble import build_run

    (seg,) = read_file(str(real(name)))
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
    from parsers import config_facts as M

    return M.decoder_layers(run.meta["config"])


# --- parsers.formats.jsonl.blocks: rows of one key layout read straight from the bytes --------------


def _json_rows_reference(data: bytes, a: int, b: int):
    """What jsonlog did before json_fast: the chunk's lines through json_rows.parse_rows."""
    parts = bytes(memoryview(data)[a:b]).split(b"\n")
    starts = a + np.concatenate(([0], np.cumsum([len(p) + 1 for p in parts[:-1]]))).astype(np.int64)
    return starts, parse_rows(pa.array([p.decode("utf-8") for p in parts], pa.large_string()), threads=1)


def _mixed_json_log(path, seed: int, n: int = 1200, lane: bool = False):
    """mmcv json rows of several layouts, among them everything the fast path must hand
    back: checkpoint meta, val rows, a key logged later, `lr` dicts, strings with `, ` and
    escapes, true/null, non-ASCII keys, a same-length different key, broken and empty lines.
    lane=True: every train row that stays readable keeps one layout (the train lane's case)."""
    import random

    rng = random.Random(seed)
    out = [
        json.dumps(
            {
                "epoch": 2,
                "iter": 61790,
                "fp16": {"loss_scale": 512.0},
                "mmcv_version": "1.7.0",
                "time": "Wed Jun 21 18:05:27 2023",
            }
        )
    ]
    for i in range(n):
        r = rng.random()
        row = {"mode": "train", "epoch": 1 + i // 300, "iter": (i % 300) * 10 + 10, "lr": round(rng.random() * 1e-4, 9)}
        if r < 0.02 and not lane:
            row["lr"] = {"backbone": 1e-5, "head": 2e-4}
        row.update({k: round(rng.uniform(-3, 3), 5) for k in ("loss_cls", "loss_bbox", "d0.loss_cls")})
        if lane and 0.3 < r < 0.4:
            del row["d0.loss_cls"]  # train rows of a second layout (a subset of keys) in between
        if i > n // 2 and not lane:
            row["new_key"] = round(rng.random(), 5)
        row["grad_norm"] = rng.choice(
            [1.5, float("nan"), float("inf"), -float("inf"), 123456789.123456, 1e-300, 0, -0.0, 12345678901234567890]
        )
        row["time"] = round(rng.random(), 5)
        if r > 0.98 and not lane:
            row["note"] = rng.choice(["a, b: c", 'quote " x', "plain", "ünï", ""])
        if 0.5 < r < 0.51 and not lane:
            row["flag"] = rng.choice([True, None, False])
        if 0.6 < r < 0.61:
            row.update(mode="val", bbox_mAP=0.5, bbox_mAP_copypaste="0.5 0.6 0.7")
        if 0.62 < r < 0.63 and not lane:
            row["lösß"] = 1.0
        s = json.dumps(row, ensure_ascii=rng.random() < 0.5)
        if 0.7 < r < 0.71 and not lane:
            s = s.replace('"loss_cls"', '"loss_xyz"')  # same length, another key
        if 0.72 < r < 0.73 and not lane:
            s = s.replace(", ", ",  ", 1)
        if 0.73 < r < 0.74:
            s = s[:-1]
        if 0.74 < r < 0.745:
            s = ""
        if 0.75 < r < 0.76:
            s = s.replace('"train"', '"trian"')
        out.append(s)
    text = "\n".join(out) + ("\n" if seed % 2 == 0 else '\n{"mode": "train", "epoch": 9, "iter": 1, "lo')
    path.write_text(text, encoding="utf-8")
    return path


def _same_rows(a, b):
    """Two json_rows.Rows hold the same rows (by input line), keys in the same order."""
    assert a.names == b.names and list(a.strings) == list(b.strings)
    assert list(a.rejected) == list(b.rejected)
    assert sorted(a.ok_rows) == sorted(b.ok_rows)
    ia, ib = np.argsort(a.ok_rows), np.argsort(b.ok_rows)
    assert np.array_equal(a.present[ia], b.present[ib])
    assert np.array_equal(a.values[ia], b.values[ib], equal_nan=True)
    assert np.array_equal(np.signbit(a.values[ia]), np.signbit(b.values[ib]))  # -0.0, -inf
    for k in a.strings:
        assert list(a.strings[k][ia]) == list(b.strings[k][ib]), k


def _json_files():
    from parsers_testlib import FIXTURES

    names = [f"{DETR3D}.log.json", f"{STREAMPETR}.log.json", f"{BEVFUSION}.log.json", f"{MMENGINE}.json"]
    return [real(n) for n in names] + sorted(p for p in FIXTURES.rglob("*.json") if p.name != "expected.json")


@pytest.mark.parametrize("chunk", [None, pytest.param(4000, marks=pytest.mark.slow)])
def test_json_fast_chunks_equal_json_rows(tmp_path, chunk):
    """Chunk by chunk, json_fast gives json_rows' answer on real logs, every json fixture
    and mixed layouts; and its layout block really reads rows (not everything handed back)."""
    from parsers.formats.jsonl.blocks import chunk_parts, merge_block
    from parsers.lines import TextFile

    files = _json_files() + [_mixed_json_log(tmp_path / f"m{s}.log.json", s) for s in range(2)]
    fast_rows = from_block = 0
    for p in files:
        data = p.read_bytes()
        f = TextFile(data, chunk)
        if f.has_cr:
            continue  # jsonlog keeps json_rows for CRLF files
        for a, b in f.bounds:
            starts, block, slow = chunk_parts(f.data, a, b)
            rows = slow if block is None else merge_block(block, slow)
            ref_starts, ref = _json_rows_reference(f.data, a, b)
            assert np.array_equal(starts, ref_starts), p
            _same_rows(rows, ref)
            fast_rows += len(rows.ok_rows)
            from_block += 0 if block is None else len(block.lines)
    assert from_block > 0.8 * fast_rows


def test_json_chunks_read_with_one_scratch_equal_json_rows(tmp_path):
    """A scanning thread keeps its working arrays from chunk to chunk (jsonl.scratch): read
    so, chunks of every size and layout (a small one after a big one, another layout, a
    chunk of no block) still give json_rows' answer; the buffers grow, never alias."""
    from parsers.formats.jsonl.blocks import chunk_parts, merge_block
    from parsers.formats.jsonl.scratch import Scratch
    from parsers.lines import TextFile

    scratch = Scratch()
    files = [real(f"{DETR3D}.log.json"), real(f"{MMENGINE}.json"), _mixed_json_log(tmp_path / "m.log.json", 0)]
    for chunk in (None, 20_000, 3000):
        for p in files if chunk != 3000 else files[-1:]:  # tiny chunks: the mixed log's layouts
            f = TextFile(p.read_bytes(), chunk)
            for a, b in f.bounds:
                starts, block, slow = chunk_parts(f.data, a, b, scratch)
                _same_rows(slow if block is None else merge_block(block, slow), _json_rows_reference(f.data, a, b)[1])
    one, other = scratch.array("x", (4, 3), np.int64), scratch.array("y", 5, bool)
    one[:] = 7
    other[:] = False
    assert (one == 7).all()
    assert scratch.array("x", (2, 2), np.int64).base is one.base  # the same buffer, no new pages
    assert scratch.array("x", 1000, np.int64).shape == (1000,)  # grown


def _same_run(fast, plain):
    import pandas as pd

    for frame in ("train", "evals", "layers"):  # exact: the engines read the same numbers
        pd.testing.assert_frame_equal(getattr(fast, frame), getattr(plain, frame), check_exact=True)
    assert repr(fast.meta) == repr(plain.meta)


@pytest.mark.parametrize("lane", [False, True])
@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("chunk", [None, 3000])
def test_json_fast_path_gives_the_same_run(tmp_path, seed, chunk, lane):
    """The fast engine (json_fast blocks and, where the log allows, the train lane) reads
    the same run as the python engine (json.loads per line) on mixed layouts, in one
    chunk and in many: frames, meta, skipped-line counts."""
    from parsers import read_file

    p = _mixed_json_log(tmp_path / "20230101_000000.log.json", seed, lane=lane)
    (seg,) = read_file(str(p), engine="fast", chunk=chunk)
    assert seg.train_lane is lane
    fast, plain = read_run(p, "fast", chunk), read_run(p, "python", chunk)
    assert len(fast.train) > 1000 and len(fast.evals) > 0
    _same_run(fast, plain)
    assert fast.meta["skipped"]["invalid JSON line"] > 0


def test_json_train_lane_gives_the_same_runs():
    """Every real and fixture json log reads the same through both engines; the train lane
    is really taken where a log allows it."""
    from parsers import read_file

    lanes = []
    for p in _json_files():
        (seg,) = read_file(str(p), engine="fast")
        lanes.append(seg.train_lane)
        _same_run(read_run(p, "fast"), read_run(p, "python"))
    assert sum(lanes) >= 8 and not all(lanes)


def test_json_fast_block_reads_values_like_json_loads():
    """Values of every width (inline string views <= 12 bytes and longer ones), NaN,
    Infinity, -Infinity, -0.0, big ints: the block's floats equal json.loads'."""
    from parsers.formats.jsonl.blocks import chunk_parts, merge_block

    values = [
        0.5,
        float("nan"),
        float("inf"),
        -float("inf"),
        -0.0,
        7,
        123456789.123456,
        1.2345678901234567e-300,
        12345678901234567890,
        8e-05,
        -1.5e300,
    ]
    rows = [
        {"mode": "train", "epoch": 1, "iter": i, "x": values[i % len(values)], "y": values[(i * 7) % len(values)]}
        for i in range(200)
    ]
    data = ("\n".join(json.dumps(r) for r in rows) + "\n").encode()
    _, block, slow = chunk_parts(data, 0, len(data) - 1)
    got = merge_block(block, slow)
    assert len(got.rejected) == 0 and len(got.ok_rows) == 200
    for r, i in enumerate(got.ok_rows):
        for k in ("epoch", "iter", "x", "y"):
            want = float(rows[i][k])
            v = got.values[r, got.names.index(k)]
            assert (math.isnan(v) and math.isnan(want)) or (
                v == want and math.copysign(1, v) == math.copysign(1, want)
            ), (i, k, v, want)
    assert list(got.strings["mode"]) == ["train"] * 200
    # one layout: only the last line (too near the end for 8-byte reads) is handed back
    assert sorted(set(range(200)) - set(block.lines.tolist())) == [199]


def test_json_chunk_with_a_control_byte_reads_like_json_rows():
    """A raw control byte (damage: json.dumps escapes them) makes the block look for spaces
    and newlines apart: a row with a tab inside a value then stays a candidate, the block's
    cast fails and the chunk reads as json_rows reads it: the tab row handed back to
    json.loads, `.5` (which the cast takes, and so `parsers.patterns.NUMBER`) read as a
    number beside it as anywhere else. Taken as one more mark, the tab row would be read
    from the block, not handed back."""
    from parsers.formats.jsonl.blocks import chunk_parts, merge_block

    lines = [json.dumps({"mode": "train", "epoch": 1, "iter": i, "loss": 1.5 + i}) for i in range(60)]
    lines[10] = lines[10][:-1] + "\t}"  # "loss": 11.5\t}
    lines[20] = lines[20].replace(": 21.5}", ": .5}")
    data = ("\n".join(lines) + "\n").encode()
    starts, block, slow = chunk_parts(data, 0, len(data) - 1)
    got = slow if block is None else merge_block(block, slow)
    ref_starts, ref = _json_rows_reference(data, 0, len(data) - 1)
    assert np.array_equal(starts, ref_starts)
    _same_rows(got, ref)
    assert 10 in got.rejected.tolist() and 20 in got.ok_rows.tolist()


_ROW_KINDS = ["train"] * 8 + ["subset", "val", "broken", "empty", "lr_dict", "string"]
_LANE_KINDS = [k for k in _ROW_KINDS if k != "lr_dict"]  # logs the train lane can take
_VALUES = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.sampled_from([0.0, -0.0, 1e-300, 8e-05, 123456789.123456]),
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(
    kinds=st.one_of(*(st.lists(st.sampled_from(k), min_size=1, max_size=120) for k in (_ROW_KINDS, _LANE_KINDS))),
    values=st.lists(_VALUES, min_size=1, max_size=50),
    chunk=st.integers(min_value=150, max_value=4000),
    meta=st.booleans(),
)
def test_json_fast_path_equals_json_loads_on_random_logs(tmp_path_factory, kinds, values, chunk, meta):
    """Random sequences of rows (train rows of one layout and of a subset layout, val rows,
    broken and empty lines, `lr` dicts, strings) with random values, cut into random chunk
    sizes: the fast engine (json_fast with its train lane) reads the same run as the python
    engine (json.loads per line)."""

    out = [json.dumps({"env_info": "sys.platform: linux", "config": "x = 1", "seed": 0})] if meta else []
    for i, kind in enumerate(kinds):
        v = [values[(i * 7 + k) % len(values)] for k in range(6)]  # six of the drawn values, shifted by the row
        row = {
            "mode": "train",
            "epoch": 1 + i // 40,
            "iter": (i % 40) * 10 + 10,
            "lr": v[0],
            "loss_cls": v[1],
            "d0.loss_cls": v[2],
            "loss": v[3],
        }
        if kind == "subset":
            del row["d0.loss_cls"]
        elif kind == "val":
            row = {"mode": "val", "epoch": row["epoch"], "iter": 100, "lr": v[0], "bbox_mAP": v[4]}
        elif kind == "lr_dict":
            row["lr"] = {"backbone": v[0], "head": v[5]}
        elif kind == "string":
            row["note"] = "a, b: c"
        line = json.dumps(row)
        if kind == "broken":
            line = line[: len(line) // 2]
        elif kind == "empty":
            line = ""
        out.append(line)
    p = tmp_path_factory.mktemp("random") / "20230101_000000.log.json"
    p.write_text("\n".join(out) + "\n")

    def read(engine):
        try:
            return read_run(p, engine, chunk)
        except parsers.ParseError as e:
            return str(e)

    fast, plain = read("fast"), read("python")
    if isinstance(fast, str) or isinstance(plain, str):
        assert fast == plain
        return
    _same_run(fast, plain)


def test_a_record_whose_head_runs_past_the_scanned_characters_is_still_read(tmp_path):
    """A record's head is matched in a line's first characters (the body can be KBs); a head that
    runs past them (padding inside the brackets) is read by the whole regex, as before."""
    head = "2024-04-07 18:21:18,692 - mmdet - INFO - "
    lines = [
        f"{head}Epoch [1][5/10]\tlr: 2.000e-04, eta: 0:00:10, time: 0.5, data_time: 0.1, loss: 1.5",
        f"{head}Epoch [1][10/10]\tlr: 2.000e-04, eta: 0:00:05, time: 0.5, data_time: 0.1, loss: 1.2",
        f"{head}Epoch(val) [1][{' ' * 600}8]\tbbox_mAP: 0.4200, bbox_mAP_50: 0.6100",
    ]
    path = tmp_path / "20240407_182118.log"
    path.write_text("\n".join(lines) + "\n")
    run = parsers.read(str(path))
    got = dict(zip(run.evals["metric"], run.evals["value"]))
    assert got == {"bbox_mAP": 0.42, "bbox_mAP_50": 0.61}
    assert not run.meta.get("skipped")
