"""A text log and its .log.json twin give the same rows; a work dir reads each pair once.

Text values carry 4 decimals (losses), 3 (time, data_time) or `%.3e` (lr); the json
rounds to 5 decimals. Equal rows therefore means: same row keys, same non-finite
pattern, and finite values within the two roundings of each other.
"""

import shutil

import numpy as np
import pytest
from parsers_testlib import DETR3D, STREAMPETR, read_cached, real

import parsers

POSITION = ("run", "segment", "epoch", "iter", "iters_per_epoch", "step", "epoch_f", "samples", "wall_s", "eta_s")
TOL = {"time": 5e-4 + 5e-6, "data_time": 5e-4 + 5e-6}


def assert_twins_equal(text, json_):
    t, j = text.train, json_.train
    assert len(t) == len(j)
    assert list(t.columns) == list(j.columns)
    assert np.array_equal(t["iter"].to_numpy(), j["iter"].to_numpy())
    for col in t.columns:
        if col in POSITION:
            continue
        a, b = t[col].to_numpy(float), j[col].to_numpy(float)
        assert np.array_equal(np.isnan(a), np.isnan(b)), col
        assert np.array_equal(np.isposinf(a), np.isposinf(b)) and np.array_equal(np.isneginf(a), np.isneginf(b)), col
        fin = np.isfinite(a)
        if col == "lr" or col.startswith("lr_"):
            # %.3e vs 5 decimals: the json is the text value rounded to 5 decimals.
            assert np.all(np.abs(np.round(a[fin], 5) - b[fin]) <= 1e-5 + 1e-12), col
        else:
            assert np.all(np.abs(a[fin] - b[fin]) <= TOL.get(col, 5e-5 + 5e-6) + 1e-12), col
    ev_t, ev_j = text.evals, json_.evals
    assert list(ev_t.metric) == list(ev_j.metric)
    assert np.allclose(ev_t.value, ev_j.value, atol=5e-5, equal_nan=True)


@pytest.mark.parametrize("stem", [DETR3D, STREAMPETR])
def test_real_twins_give_the_same_rows(stem):
    assert_twins_equal(read_cached(real(f"{stem}.log")), read_cached(real(f"{stem}.log.json")))


def test_work_dir_reads_each_twin_pair_once_with_json_precision(tmp_path):
    """A work dir with both twins: one run, the text's rows, the json's extra digit."""
    src = real(f"{STREAMPETR}.log")
    wd = tmp_path / "stream_petr"
    wd.mkdir()
    shutil.copy(src, wd / "20230725_174411.log")
    shutil.copy(real(f"{STREAMPETR}.log.json"), wd / "20230725_174411.log.json")
    (one,), problems = parsers.read_paths([str(tmp_path)])
    assert problems == [] and one.meta["sources"] == [str(wd / "20230725_174411.log")]
    run = parsers.read(str(wd))
    assert run.meta["name"] == "stream_petr"
    assert len(run.train) == 843 and len(run.evals) == 97  # not 2 x
    assert run.meta["twins"] == [str(wd / "20230725_174411.log.json")]
    text = read_cached(src)
    json_ = read_cached(real(f"{STREAMPETR}.log.json"))
    # Losses carry the json's 5 decimals, lr keeps the text's %.3e, time/eta/wall from the text.
    assert np.array_equal(run.train["frame_0_loss_cls"], json_.train["frame_0_loss_cls"])
    assert np.array_equal(run.train["lr"], text.train["lr"])
    assert np.array_equal(run.train["wall_s"], text.train["wall_s"], equal_nan=True)
    assert run.train["frame_0_loss_cls"].iloc[0] == 1.41791  # json; the text says 1.4179
