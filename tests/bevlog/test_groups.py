"""Seed groups (bevlog.groups) and their statistics (bevlog.groupstats, bevlog.groupcompare) on
the real seeded bevdetr runs of fixtures/runs/seeds: grouping, mean ± sd and n in compare,
paired differences with a 95% CI — checked against values read from the log text and
scipy's t intervals."""

import gzip
import json
import math
import re
import shutil
import statistics
from pathlib import Path

import pytest
from click.testing import CliRunner

import parsers
from bevlog.cli import cli
from bevlog.groups import GroupError, find_groups
from bevlog.groupstats import difference, t_quantile

REPO = Path(__file__).resolve().parents[2]
SEEDS = REPO / "fixtures" / "runs" / "seeds"
FIX = REPO / "fixtures" / "compare"
SEED_NAME = re.compile(r"^(.*)-s(\d+)$")


@pytest.fixture(scope="module")
def all_seeds():
    runs, problems = parsers.read_paths([str(SEEDS)])
    assert not problems
    return runs


def final_map(name: str) -> float:
    """The last `bevdetr/mAP` the run's log prints (read from the text, not through bevlog)."""
    (log,) = (SEEDS / name).glob("*.log.gz")
    return float(re.findall(r"bevdetr/mAP: ([0-9.]+)", gzip.decompress(log.read_bytes()).decode())[-1])


@pytest.mark.slow  # all 90 runs of the earlier sweep
def test_runs_differing_only_in_seed_are_grouped(all_seeds):
    """The sweep names each run `<arm>-s<seed>`; grouping by settings must find the same arms."""
    labels = [r.name for r in all_seeds]
    groups = find_groups(all_seeds, labels)
    by_name = {}
    for label in labels:
        arm, seed = SEED_NAME.match(label).groups()
        by_name.setdefault(arm, set()).add(label)
    assert sorted(sorted(g.labels) for g in groups) == sorted(sorted(v) for v in by_name.values())
    for g in groups:
        assert g.how == "seed" and g.name == SEED_NAME.match(g.labels[0]).group(1) + "-s*"
        assert g.seeds == [int(SEED_NAME.match(lab).group(2)) for lab in g.labels]
    assert len(groups) == len(by_name) and sum(g.n for g in groups) == len(all_seeds)


def test_a_copy_is_not_a_repeat_and_a_log_without_config_stays_alone(tmp_path):
    shutil.copytree(SEEDS / "base-s0", tmp_path / "base-copy")
    runs, _ = parsers.read_paths(
        [
            str(SEEDS / "base-s0"),
            str(tmp_path / "base-copy"),
            str(SEEDS / "base-s1"),
            str(FIX / "nobatch"),
            str(FIX / "b20"),
        ]
    )
    groups = find_groups(runs, [r.name for r in runs])
    assert [(g.labels, g.how) for g in groups] == [
        (["base-s0", "base-s1"], "seed"),
        (["base-copy"], "single"),
        (["nobatch"], "single"),
        (["b20"], "single"),
    ]
    assert find_groups(runs, [r.name for r in runs], auto=False)[0].n == 1


@pytest.mark.slow  # all 90 runs of the earlier sweep
def test_group_pattern_with_and_without_capture(all_seeds):
    labels = [r.name for r in all_seeds]
    removed = find_groups(all_seeds, labels, pattern=r"-s\d+$")
    captured = find_groups(all_seeds, labels, pattern=r"^(.*)-s\d+$")
    assert [g.labels for g in removed] == [g.labels for g in captured]
    assert {g.name for g in removed} == {SEED_NAME.match(lab).group(1) for lab in labels}
    one = find_groups(all_seeds, labels, pattern=r"^(base)-s\d+$")  # only base-s* match: one group, rest alone
    assert [(g.name, g.n) for g in one if g.n > 1] == [("base", 5)]
    assert sum(g.n for g in one) == len(labels)
    with pytest.raises(GroupError, match="not a regular expression"):
        find_groups(all_seeds, labels, pattern="(")


def test_a_pattern_group_of_different_settings_says_so(all_seeds):
    pick = [r for r in all_seeds if r.name in ("base-s0", "lr-2e-3-s1")]
    groups = find_groups(pick, [r.name for r in pick], pattern=r".*")  # every name -> one key
    assert groups[0].n == 2
    assert any("differ in more than the seed" in n and "lr" in n for n in groups[0].notes)


def test_t_quantile_against_the_table_and_scipy():
    assert t_quantile(0.975, 4) == pytest.approx(2.776445, abs=1e-6)  # the textbook table
    assert t_quantile(0.975, 1e6) == pytest.approx(1.959964, abs=1e-5)
    stats = pytest.importorskip("scipy.stats")
    for df in (1, 2.5, 4, 9.7, 30):
        for p in (0.6, 0.9, 0.975, 0.995):
            assert t_quantile(p, df) == pytest.approx(stats.t.ppf(p, df), rel=1e-9)


def test_paired_and_welch_differences_match_scipy():
    stats = pytest.importorskip("scipy.stats")
    a = {0: 0.231, 1: 0.216, 2: 0.030, 3: 0.18, 4: 0.12}
    b = {0: 0.031, 1: 0.090, 2: 0.029, 3: 0.01, 4: 0.05}
    d = difference(a, b)
    ci = stats.ttest_rel(list(b.values()), list(a.values())).confidence_interval(0.95)
    assert d.paired and d.n == 5 and "paired by seed over 5 seeds" in d.how
    assert d.mean == pytest.approx(statistics.mean(b[k] - a[k] for k in a))
    assert (d.lo, d.hi) == (pytest.approx(ci.low), pytest.approx(ci.high))
    shifted = {k + 10: v for k, v in b.items()}  # no seed in common: Welch
    w = difference(a, shifted)
    ci = stats.ttest_ind(list(shifted.values()), list(a.values()), equal_var=False).confidence_interval(0.95)
    assert not w.paired and "Welch" in w.how and "share no seed" in w.how
    assert (w.lo, w.hi) == (pytest.approx(ci.low), pytest.approx(ci.high))
    single = difference(a, {"#0": 0.5})
    assert "single run's spread" in single.how and single.lo < single.mean < single.hi
    assert difference({"#0": 1.0}, {"#0": 2.0}).lo is None


def test_compare_gives_mean_sd_n_and_the_paired_difference(all_seeds):
    """base (lr 1e-3, batch 8) against batch 20 at lr 2.5e-3, five seeds each, final mAP."""
    names = [f"base-s{k}" for k in range(5)] + [f"batch-20-lr-2.5e-3-s{k}" for k in range(5)]
    result = CliRunner().invoke(
        cli, ["compare", *[str(SEEDS / n) for n in names], "-m", "mAP", "--format", "json"], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    (comp,) = json.loads(result.stdout)["comparisons"]
    assert comp["smoothed"] is False  # evaluations are compared as logged
    base = [final_map(n) for n in names[:5]]
    b20 = [final_map(n) for n in names[5:]]
    groups = {g["group"]: g for g in comp["groups"]}
    assert set(groups) == {"base-s*", "batch-20-lr-2.5e-3-s*"}
    assert groups["base-s*"]["n"] == 5 and groups["base-s*"]["seeds"] == "0, 1, 2, 3, 4"
    assert groups["base-s*"]["final_mean"] == pytest.approx(statistics.mean(base), abs=1e-9)
    assert groups["base-s*"]["final_sd"] == pytest.approx(statistics.stdev(base), abs=1e-9)
    assert groups["batch-20-lr-2.5e-3-s*"]["final_mean"] == pytest.approx(statistics.mean(b20), abs=1e-9)
    (diff,) = comp["differences"]
    paired = [y - x for x, y in zip(base, b20)]
    assert diff["at"] == 12.0 and diff["difference"]["paired"] is True and diff["difference"]["n"] == 5
    assert diff["difference"]["mean"] == pytest.approx(statistics.mean(paired))
    half = t_quantile(0.975, 4) * statistics.stdev(paired) / math.sqrt(5)
    lo, hi = diff["difference"]["ci95"]
    assert (lo, hi) == (pytest.approx(statistics.mean(paired) - half), pytest.approx(statistics.mean(paired) + half))
    (verdict,) = comp["verdicts"]
    assert verdict.startswith("batch-20-lr-2.5e-3-s* (n=5)") and "paired by seed over 5 seeds" in verdict
    assert "lr scaled with the batch" in verdict  # 2.5e-3 at batch 20 = 1e-3 × 20/8


def test_compare_table_prints_groups_and_the_unpaired_case():
    """Two arms trained on different seeds (by --group): the difference is unpaired and says so."""
    names = [SEEDS / "base-s0", SEEDS / "base-s1", SEEDS / "base-s2", SEEDS / "lr-2e-3-s3", SEEDS / "lr-2e-3-s4"]
    result = CliRunner().invoke(cli, ["compare", *map(str, names), "-m", "mAP", "--wide"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    out = result.output
    assert re.search(r"base-s\*\s+│ 3 │ 0, 1, 2\s+│", out)
    assert re.search(r"lr-2e-3-s\*\s+│ 2 │ 3, 4\s+│", out)
    assert "unpaired (the groups share no seed), Welch" in out
    assert "lr 2e-3-s" not in out
    alone = CliRunner().invoke(cli, ["compare", *map(str, names), "-m", "mAP", "--no-groups"])
    assert alone.exit_code == 0 and "mean ± sd" not in alone.output
    bad = CliRunner().invoke(cli, ["compare", *map(str, names), "--group", "("])
    assert bad.exit_code == 2 and "not a regular expression" in bad.output
