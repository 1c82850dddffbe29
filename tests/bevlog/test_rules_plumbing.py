"""How the rules get what they need without writing into the Run: `live` as an argument,
derived signals in a per-run cache, the resume boundary, meta as JSON (issue 10)."""

import dataclasses
import gc
import json
import os

import numpy as np
from click.testing import CliRunner
from labelled_runs import run

import parsers
from bevlog.cli import cli
from bevlog.diagnose import diagnose_run
from bevlog.rules import Rule, _common, get_rule

RESUME_EPOCH = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "logs", "mmcv_resume_epoch")


def test_diagnosing_writes_nothing_into_the_run():
    r = run("real/streampetr-text")
    before, meta = dict(vars(r)), r.meta
    diagnose_run(r)
    assert set(vars(r)) == set(before) and r.meta is meta
    assert all(vars(r)[k] is v for k, v in before.items() if k != "_layers")  # layers: built once, lazily


def test_live_reaches_only_the_rules_that_ask_for_it():
    r = run("variant/streampetr_cut")  # stops at step 20,000 of 42,192
    kinds = lambda fs: {f.evidence.get("kind") for f in fs if f.rule == "log-integrity"}  # noqa: E731
    assert "stopped" in kinds(diagnose_run(r))
    assert "stopped" not in kinds(diagnose_run(r, live=True))
    assert get_rule("log-integrity").wants_live and not get_rule("divergence").wants_live
    # a check with the plain (run, th) signature is called the plain way, live or not
    seen = []
    plain = Rule("plain", lambda run, th: seen.append(th) or [], "", "", object())
    assert plain(r, live=True) == [] and len(seen) == 1


def test_signals_are_cached_per_run_and_go_with_it():
    r = run("real/detr3d-text")
    sig = _common.signals(r)
    assert _common.signals(r) is sig
    # a changed meta is a new Run with its own signals: a longer configured warmup moves the cut
    sched = r.meta.lr_schedule
    assert sched.warmup and sched.warmup_iters == 500
    longer = dataclasses.replace(
        r, meta=dataclasses.replace(r.meta, lr_schedule=dataclasses.replace(sched, warmup_iters=5000))
    )
    moved = _common.signals(longer)
    assert moved is not sig and moved.warmup_iters == 5000 and moved.warmup_end_row > sig.warmup_end_row
    # the cache holds its runs weakly (collect first: earlier tests' runs may be garbage by now)
    gc.collect()
    n = len(_common._CACHES)
    del longer, moved
    gc.collect()
    assert len(_common._CACHES) == n - 1


def test_signals_mark_the_resume_boundary():
    r = parsers.read(RESUME_EPOCH)
    sig = _common.signals(r)
    assert np.flatnonzero(sig.segment_start).tolist() == [12] and sig.step[12] == 71  # `Epoch [3][5/33]`


def test_diagnose_json_meta_keeps_its_shape():
    res = CliRunner().invoke(cli, ["diagnose", RESUME_EPOCH, "--format", "json"], env={"NO_COLOR": "1"})
    assert res.exit_code == 0, res.output
    (out,) = json.loads(res.stdout)["runs"]
    meta = out["meta"]
    # the Meta's fields, without the bulky ones (bevlog.diagnose.meta_for_json), plus crash_lines
    assert list(meta) == [k for k in parsers.META_KEYS if k not in ("skipped_lines", "tail", "config")] + [
        "crash_lines"
    ]
    assert meta["lr_schedule"]["steps"] == [3] and meta["max_epochs"] == 4
    assert [s["resumed_from"] for s in meta["segments"]] == [None, {"epoch": 2, "iter": 66}]
    assert meta["ended"] == "finished" and isinstance(meta["skipped"], dict)


def test_every_rule_lives_in_the_module_named_after_its_id():
    """`bevlog/rules/<id, - as _>.py` (divergence.py for `divergence`): a rule is found by its
    name, and its module holds one rule."""
    from bevlog.rules import RULE_IDS, RULE_MODULES

    assert [RULE_MODULES[r][0] for r in RULE_IDS] == [r.replace("-", "_") for r in RULE_IDS]
    here = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "bevlog", "rules")
    modules = {f[:-3] for f in os.listdir(here) if f.endswith(".py") and not f.startswith("_")}
    assert modules == {r.replace("-", "_") for r in RULE_IDS}
