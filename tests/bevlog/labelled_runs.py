"""Runs of the labelled corpus (fixtures/labelled) for the rule tests, read once per session."""

from __future__ import annotations

import functools
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "fixtures", "labelled"))

import corpus  # noqa: E402
from repo_paths import REAL_SET1  # noqa: E402

REAL = str(REAL_SET1)
DETR3D_TEXT = os.path.join(REAL, "PrymceQ__3DDetection_DETR3D__20230727_114037.log")
STREAMPETR_TEXT = os.path.join(REAL, "PrymceQ__BEVModel_StreamPETR__20230725_174411.log")
STREAMPETR_JSON = STREAMPETR_TEXT + ".json"
BEVFUSION_JSON = os.path.join(REAL, "PrymceQ__BEVModel_BEVFusion__20230621_180527.log.json")
CONSOLE = os.path.join(REAL, "eb45__StreamPETR_TTC_Head__run-20260409_140746-x2mo2co1_output.log")
MMENGINE_JSON = os.path.join(REAL, "jasoni4399__FYP_mmdetection__20241114_204353.json")
VARIANTS = os.path.join(REPO, "fixtures", "labelled", "variants")


@functools.cache
def _run(run_id: str):
    return corpus.read(corpus.entry(run_id))


def run(run_id: str):
    """A fresh Run for the corpus entry: frames and the frozen meta shared, a new object so
    that its derived-signal cache is its own (a test changes meta with `dataclasses.replace`
    and may assign `train`)."""
    import dataclasses

    return dataclasses.replace(_run(run_id))


def findings(run_id: str, rule: str, **overrides):
    """One rule's findings on a corpus run."""
    from bevlog.rules import get_rule

    return get_rule(rule)(run(run_id), **overrides)


def all_findings(run_id: str):
    from bevlog.diagnose import diagnose_run

    return diagnose_run(run(run_id))


def core(changes):
    """A fix's changes as {"param", "from", "to"} (what a test pins; key, effective value and
    reason are checked where a test is about them)."""
    return [{k: c[k] for k in ("param", "from", "to") if k in c} for c in changes]
