"""The settings that differ between runs (bevlog.configdiff), on the seeded bevdetr runs and
the compare fixtures, and through `bevlog compare` / `bevlog report`: shown first, identical
keys hidden, nested keys dotted, long values shortened, text from a log cleaned/escaped."""

import gzip
import json
import re
from pathlib import Path

from click.testing import CliRunner

import parsers
from bevlog.cli import cli
from bevlog.configdiff import MISSING, config_diff, flatten, short, text

REPO = Path(__file__).resolve().parents[2]
SEEDS = REPO / "fixtures" / "runs" / "seeds"
FIX = REPO / "fixtures" / "compare"


def log_text(run_dir: Path) -> str:
    (log,) = run_dir.glob("*.log.gz")
    return gzip.decompress(log.read_bytes()).decode()


def dict_only_flatten(d, prefix=""):
    """A second flattening, dicts only (lists stay values), to check the diff against."""
    out = {}
    for k, v in d.items():
        key = f"{prefix}.{k}" if prefix else k
        if isinstance(v, dict) and v:
            out.update(dict_only_flatten(v, key))
        else:
            out[key] = v
    return out


def test_batch_20_against_base_shows_the_batch_and_hides_the_rest():
    base, b20 = parsers.read(SEEDS / "base-s0"), parsers.read(SEEDS / "batch-20-s0")
    diff = config_diff([base, b20], ["base-s0", "batch-20-s0"])
    # what the two logs' Config dumps say, read here with a regex on the log text
    for run_dir, batch in (("base-s0", 8), ("batch-20-s0", 20)):
        assert re.search(rf"\bsamples_per_gpu={batch},", log_text(SEEDS / run_dir))
    rows = {r.key: r.values for r in diff.rows}
    assert rows["batch (total)"] == [8, 20]
    assert rows["iters/epoch"] == [100, 40]  # 800 samples / batch
    assert rows["data.samples_per_gpu"] == [8, 20]
    assert rows["bevdetr.batch"] == [8, 20]
    assert rows["work_dir"] == ["/work/sweep13/base-s0", "/work/sweep13/batch-20-s0"]
    # facts come first, then config keys
    kinds = [r.kind for r in diff.rows]
    assert kinds == sorted(kinds, key=lambda k: k != "fact")
    # no identical key shown, no differing key hidden (against a dict-only flattening)
    fa, fb = dict_only_flatten(base.meta.config), dict_only_flatten(b20.meta.config)
    differing = {k for k in set(fa) | set(fb) if fa.get(k, MISSING) != fb.get(k, MISSING)}
    assert {r.key for r in diff.rows if r.kind == "config"} == differing
    assert "lr" not in rows and "optimizer.lr" not in rows and "bevdetr.lr" not in rows


def test_seeds_differ_in_seed_and_work_dir_only():
    runs = [parsers.read(SEEDS / f"base-s{k}") for k in range(3)]
    diff = config_diff(runs, [r.name for r in runs])
    assert {r.key for r in diff.rows} == {"seed", "bevdetr.seed", "work_dir"}
    assert all(r.seed_only for r in diff.rows)
    assert dict((r.key, r.values) for r in diff.rows)["bevdetr.seed"] == [0, 1, 2]


def test_nested_keys_lists_missing_keys_and_bounds():
    flat, cut = flatten({"a": {"b": {"c": 1}}, "hooks": [{"type": "X"}, {"type": "Y"}], "steps": [8, 11]})
    assert flat == {"a.b.c": 1, "hooks[0].type": "X", "hooks[1].type": "Y", "steps": [8, 11]} and not cut
    deep = current = {}
    for _ in range(100):
        current["k"] = {}
        current = current["k"]
    current["v"] = 1
    flat, cut = flatten(deep)
    assert cut and not flat  # cut at MAX_DEPTH, nothing invented
    many, cut = flatten({f"k{i}": i for i in range(10_000)})
    assert cut and len(many) == 5000


def test_values_are_shortened_and_one_line():
    assert text(1e-05) == "1e-05" and text(0.001) == "0.001" and text([8, 11]) == "[8, 11]"
    path = "/work/very/long/" + "x" * 80 + "/base-s0"
    shown = short(path)
    assert len(shown) == 40 and "…" in shown and shown.endswith("base-s0")
    assert text("a\nb") == "a b"


def test_the_fixtures_without_config_say_so():
    b8, nobatch = parsers.read(FIX / "b8"), parsers.read(FIX / "nobatch")
    diff = config_diff([b8, nobatch], ["b8", "nobatch"])
    assert diff.without_config == ["nobatch"]
    assert not [r for r in diff.rows if r.kind == "config"]  # one config: nothing to diff key by key
    assert dict((r.key, r.values) for r in diff.rows)["batch (total)"] == [8, None]


def run_compare(*args):
    return CliRunner().invoke(cli, ["compare", *map(str, args), "--wide"], catch_exceptions=False)


def test_compare_prints_the_settings_first():
    result = run_compare(FIX / "b8", FIX / "b20", "--align", "samples")
    assert result.exit_code == 0, result.output
    out = result.output
    assert out.index("settings that differ") < out.index("loss by samples seen")
    table = out[: out.index("loss by samples seen")]
    assert re.search(r"batch \(total\)\s+│ 8\s+│ 20", table)
    assert re.search(r"data\.samples_per_gpu\s+│ 4\s+│ 5", table)
    assert "optimizer" not in table  # same AdamW, same lr: hidden
    data = json.loads(run_compare(FIX / "b8", FIX / "b20", "--format", "json").output)
    rows = {r["key"]: r["values"] for r in data["settings"]["rows"]}
    assert rows["log_config.interval"] == {"b8": 20, "b20": 10}


def test_hostile_config_text_is_cleaned_and_escaped(tmp_path):
    """A config value carrying a terminal escape and markup (a real log, its work_dir edited)."""
    hostile = "/w/\x1b[2J<script>alert(1)</script>"
    for name in ("base-s0", "base-s1"):
        src = log_text(SEEDS / name)
        (tmp_path / name).mkdir()
        edited = src.replace(f"work_dir = '/work/sweep13/{name}'", f"work_dir = '{hostile}{name}'")
        assert edited != src
        (tmp_path / name / "20261203_144446.log").write_text(edited)
    result = run_compare(tmp_path / "base-s0", tmp_path / "base-s1", "--no-groups")
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.output and "^[[2J<script>" in result.output
    out = tmp_path / "r.html"
    report = CliRunner().invoke(
        cli,
        [
            "report",
            str(tmp_path / "base-s0"),
            str(tmp_path / "base-s1"),
            "-o",
            str(out),
            "--no-findings",
            "--no-groups",
        ],
        catch_exceptions=False,
    )
    assert report.exit_code == 0, report.output
    page = out.read_text()
    settings = re.search(r'<section id="section-settings">.*?</section>', page, re.S).group(0)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in settings and "<script>alert" not in settings
