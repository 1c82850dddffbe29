"""The labelled corpus is what its committed script writes, and every run in it is readable."""

import importlib.util
import os

import pytest
from labelled_runs import REPO, VARIANTS, corpus


def _make_variants():
    spec = importlib.util.spec_from_file_location("make_variants", os.path.join(REPO, "tools", "make_variants.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    "name",
    [
        "detr3d_nan_single",
        "streampetr_spikes",
        "detr3d_resumed",
        "streampetr_fp16_static_skip",
        "detr3d_small_grad",
        "detr3d_memory_leak",
    ],
)
def test_committed_variants_are_what_the_script_writes(tmp_path, name):
    mv = _make_variants()
    mv.OUT = str(tmp_path)
    getattr(mv, name)()
    for entry in sorted(os.listdir(os.path.join(VARIANTS, name))):
        with open(os.path.join(VARIANTS, name, entry), "rb") as a, open(tmp_path / name / entry, "rb") as b:
            assert a.read() == b.read(), entry


def test_every_variant_has_labels_and_every_label_names_a_known_rule():
    from bevlog.rules import RULE_IDS

    labelled = {e["paths"][0].split("/")[-1] for e in corpus.entries() if e["kind"].startswith("variant")}
    assert labelled == set(os.listdir(VARIANTS))
    for e in corpus.entries():
        for label in e.get("must", []) + e.get("must_not", []):
            assert label["rule"] in RULE_IDS, (e["id"], label)
        assert e["kind"] in ("real", "variant", "variant-synthetic", "bevdetr")
        assert all(os.path.exists(p) for p in corpus.paths(e)), e["id"]
    # every rule has at least one run where it must fire
    assert {m["rule"] for e in corpus.entries() for m in e.get("must", [])} == set(RULE_IDS)


@pytest.mark.slow  # reads every sweep run
def test_sweep_labels_are_what_their_script_derives_from_the_runs():
    """sweep_labels.json is label_sweep.py's output on the committed sweep logs (mAP and config
    only); every run of fixtures/runs/seeds and fixtures/runs/converged is labelled, and the
    outcome classes all occur."""
    spec = importlib.util.spec_from_file_location("label_sweep", os.path.join(REPO, "tools", "label_sweep.py"))
    label_sweep = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(label_sweep)
    import parsers

    entries = corpus.sweep_entries()
    assert {e["paths"][0] for e in entries} == {
        os.path.relpath(os.path.join(folder, d), REPO)
        for folder in label_sweep.SWEEPS.values()
        for d in os.listdir(folder)
        if os.path.isdir(os.path.join(folder, d))
    }
    assert {corpus.group_of(e) for e in entries} == {"sweep", "converged"}
    for e in entries:
        derived = label_sweep.labels_of(parsers.read(corpus.paths(e)[0]))
        assert {k: e[k] for k in derived if k != "kind"} == {k: v for k, v in derived.items() if k != "kind"}, e["id"]
    assert {e["outcome"] for e in entries} >= {"held", "lost", "never"}
