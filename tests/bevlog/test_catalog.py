"""The run catalog: `bevlog index` builds it from real runs and re-reads only what changed,
`bevlog runs` filters it, and the README's DuckDB query runs over its Parquet dataset.
Expected values come from other roads: `bevlog diagnose --format json`, `parsers.read`."""

import gzip
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

pytest.importorskip("duckdb")
import duckdb  # noqa: E402

import parsers  # noqa: E402
from bevlog.catalog import index  # noqa: E402
from bevlog.cli import cli  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
SEEDS = REPO / "fixtures" / "runs" / "seeds"
FIX = REPO / "fixtures" / "compare"
README = (REPO / "README.md").read_text()
PICK = ["base-s0", "base-s1", "batch-20-s0", "cyclic-5x-s0", "lr-5e-3-s0", "layers-2-s0"]


def invoke(*args):
    return CliRunner().invoke(cli, [*map(str, args)], catch_exceptions=False)


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    """Six seeded runs and the two compare fixtures, copied so that tests can change them."""
    root = tmp_path_factory.mktemp("work_dirs")
    for name in PICK:
        shutil.copytree(SEEDS / name, root / name)
    for name in ("b8", "b20"):
        shutil.copytree(FIX / name, root / name)
    return root


@pytest.fixture(scope="module")
def catalog(tree, tmp_path_factory):
    out = tmp_path_factory.mktemp("cat") / "bevlog-catalog"
    result = invoke("index", tree, "--catalog", out, "-j", "2")
    assert result.exit_code == 0, result.output
    assert f"catalog {out}: 8 run(s); read 8 changed candidate run(s), kept 0, removed 0" in result.output
    return out


def diagnose_json(*paths):
    result = invoke("diagnose", *paths, "--format", "json")
    assert result.exit_code == 0, result.output
    return {d["run"]: d for d in json.loads(result.stdout)["runs"]}


def test_the_catalog_holds_what_diagnose_and_the_parser_say(tree, catalog):
    expected = diagnose_json(tree)
    con = duckdb.connect(str(catalog / "catalog.duckdb"), read_only=True)
    runs = {
        r[0]: r
        for r in con.execute(
            "SELECT name, verdict, n_errors + n_warnings + n_info, run_id, total_batch, model FROM runs"
        ).fetchall()
    }
    assert set(runs) == set(expected)
    for name, d in expected.items():
        assert runs[name][1] == d["verdict"]
        assert runs[name][2] == len(d["findings"])
        rules = sorted(
            r for (r,) in con.execute("SELECT rule FROM findings WHERE run_id = ?", [runs[name][3]]).fetchall()
        )
        assert rules == sorted(f["rule"] for f in d["findings"])
    assert runs["batch-20-s0"][4] == 20 and runs["base-s0"][5] == "BEVDETR"
    for name in ("base-s0", "b8"):
        run = parsers.read(tree / name)
        rid = runs[name][3]
        n_evals = con.execute("SELECT count(*) FROM evaluations WHERE run_id = ?", [rid]).fetchone()[0]
        assert n_evals == len(run.evals)
        for frame in ("train", "layers", "evals"):
            part = catalog / "frames" / frame / f"run_id={rid}" / "part-0.parquet"
            assert duckdb.sql(f"SELECT count(*) FROM read_parquet('{part}')").fetchall()[0][0] == len(
                getattr(run, frame)
            )
    con.close()


def test_runs_filters(catalog, tree):
    expected = diagnose_json(tree)

    def names(*args):
        result = invoke("runs", "--catalog", catalog, "--format", "json", *args)
        assert result.exit_code == 0, result.output
        return {r["name"] for r in json.loads(result.stdout)["runs"]}

    assert names("--verdict", "broken") == {n for n, d in expected.items() if d["verdict"] == "broken"}
    assert names("--rule", "divergence") == {
        n for n, d in expected.items() if any(f["rule"] == "divergence" for f in d["findings"])
    }
    assert names("--model", "bevdetr") == set(PICK)  # b8/b20 configs name no model type
    assert names("--name", "base-") == {"base-s0", "base-s1"}
    # launch stamps: the seeds ran on 2026-12-03, the compare fixtures are stamped 2024-01-01
    assert names("--since", "2026-01-01") == set(PICK)
    assert names("--until", "2024-01-01") == {"b8", "b20"}
    last_map = {}
    for name in PICK:
        (log,) = (tree / name).glob("*.log.gz")
        last_map[name] = float(re.findall(r"bevdetr/mAP: ([0-9.]+)", gzip.decompress(log.read_bytes()).decode())[-1])
    assert names("--metric", "mAP>0.2") == {n for n, v in last_map.items() if v > 0.2}
    assert names("--metric", "bbox_mAP>=0.3") == {"b8", "b20"}  # their last evaluation is 0.3
    assert names("--metric", "bbox_mAP>0.3") == set()
    result = invoke("runs", "--catalog", catalog, "--format", "json", "--metric", "mAP>0.2")
    rows = json.loads(result.stdout)["runs"]
    assert all(r["mAP"] == pytest.approx(last_map[r["name"]]) for r in rows)
    bad = invoke("runs", "--catalog", catalog, "--metric", "mAP>>1")
    assert bad.exit_code == 2 and "'>1' is not a number" in bad.output
    missing = invoke("runs", "--catalog", catalog.parent / "nothing")
    assert missing.exit_code == 2 and "no catalog here" in missing.output


@pytest.mark.parametrize("width", [80, 120])
def test_runs_table_fits_the_terminal(catalog, width):
    """One line per run, no line wider than the terminal, the columns left out named; --wide
    shows them all."""
    from rich.cells import cell_len

    out = CliRunner().invoke(cli, ["runs", "--catalog", str(catalog)], env={"COLUMNS": str(width), "NO_COLOR": "1"})
    assert out.exit_code == 0, out.output
    lines = out.stdout.splitlines()
    assert max(cell_len(line) for line in lines) <= width
    assert sum("│" in line for line in lines) == 8 and lines[-1] == "8 run(s)"
    assert "more with --wide: " in out.stdout
    wide = CliRunner().invoke(cli, ["runs", "--catalog", str(catalog), "--wide"], env={"COLUMNS": "80"}).stdout
    header = [c.strip() for c in wide.splitlines()[0].split("┃")]
    assert header == [
        "name",
        "verdict",
        "worst_rule",
        "model",
        "date",
        "total_batch",
        "lr",
        "max_epochs",
        "last_loss",
        "run_dir",
    ]
    assert "more with --wide" not in wide


def readme_query() -> str:
    block = next(b for b in re.findall(r"```python\n(.*?)```", README, re.S) if "read_parquet" in b)
    return re.search(r'duckdb\.sql\(f"""(.*?)"""\)', block, re.S).group(1)


def test_the_readme_duckdb_query_over_the_parquet_dataset(tree, catalog):
    """The README's query, as written there, over this index: it needs only the Parquet files."""
    query = readme_query().replace("{catalog}", str(catalog))
    got = duckdb.sql(query).fetchall()
    verdicts = {n: d["verdict"] for n, d in diagnose_json(tree).items()}
    best = {}
    for name in verdicts:
        evals = parsers.read(tree / name).evals
        maps = evals.loc[evals["metric"].str.endswith("mAP"), "value"]
        if len(maps):
            best[name] = float(maps.max())
    limit = int(re.search(r"LIMIT (\d+)", query).group(1))
    assert [round(r[2], 9) for r in got] == sorted((round(v, 9) for v in best.values()), reverse=True)[:limit]
    for name, verdict, value in got:
        assert verdict == verdicts[name] and value == pytest.approx(best[name])


def test_reindex_reads_only_what_changed(tmp_path):
    work = tmp_path / "w"
    for name in ("base-s0", "base-s1", "b8"):
        shutil.copytree(SEEDS / name if name != "b8" else FIX / name, work / name)
    cat = tmp_path / "cat"
    first = index([work], cat, jobs=1)
    assert (first.read, first.runs, first.read_names) == (3, 3, ["b8", "base-s0", "base-s1"])
    again = index([work], cat, jobs=1)
    assert again.up_to_date and again.runs == 3 and again.read_names == []
    # a touched log: read again, alone
    log = work / "b8" / "20240101_000000.log"
    os.utime(log, ns=(log.stat().st_atime_ns, log.stat().st_mtime_ns + 10**9))
    touched = index([work], cat, jobs=1)
    assert (touched.read, touched.kept, touched.read_names) == (1, 2, ["b8"])
    # same size, same mtime, another head: the fingerprint catches it
    text = log.read_text()
    st = log.stat()
    log.write_text(text.replace("2024-01-01 00:00:00,000", "2024-01-01 00:00:09,000", 1))
    os.utime(log, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert log.stat().st_size == st.st_size
    rewritten = index([work], cat, jobs=1)
    assert (rewritten.read, rewritten.read_names) == (1, ["b8"])
    # a file that is no log changes: nothing is read
    (work / "base-s0" / "latest.pth").write_bytes(b"\0" * 100)
    other = index([work], cat, jobs=1)
    assert other.changed_files == 1 and other.read == 0 and other.read_names == []
    # a run removed: it drops out, its frames too
    con = duckdb.connect(str(cat / "catalog.duckdb"), read_only=True)
    (rid,) = con.execute("SELECT run_id FROM runs WHERE name = 'base-s1'").fetchone()
    con.close()
    shutil.rmtree(work / "base-s1")
    removed = index([work], cat, jobs=1)
    assert (removed.read, removed.removed_runs, removed.runs, removed.read_names) == (0, 1, 2, [])
    assert not (cat / "frames" / "train" / f"run_id={rid}").exists()
    con = duckdb.connect(str(cat / "catalog.duckdb"), read_only=True)
    assert con.execute("SELECT count(*) FROM runs WHERE name = 'base-s1'").fetchone()[0] == 0
    assert con.execute("SELECT count(*) FROM evaluations WHERE run_id = ?", [rid]).fetchone()[0] == 0
    assert con.execute("SELECT count(*) FROM files WHERE path LIKE '%base-s1%'").fetchone()[0] == 0
    con.close()


def test_a_bad_file_is_one_problem_row(tmp_path):
    work = tmp_path / "w"
    shutil.copytree(FIX / "b8", work / "b8")
    shutil.copytree(FIX / "b20", work / "b20")
    (work / "lost").mkdir()
    os.symlink(tmp_path / "gone.log", work / "lost" / "20230101_000000.log")  # a log that is not there
    cat = tmp_path / "cat"
    result = invoke("index", work, "--catalog", cat, "-j", "2")
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "20230101_000000.log" in lines[0]
    assert "catalog" in result.output and "2 run(s)" in result.output
    listed = invoke("runs", "--catalog", cat, "--problems")
    assert listed.exit_code == 0 and "20230101_000000.log" in listed.output
    doc = json.loads(invoke("runs", "--catalog", cat, "--format", "json").stdout)
    assert {r["name"] for r in doc["runs"]} == {"b8", "b20"}
    assert len(doc["index_problems"]) == 1 and "20230101_000000.log" in doc["index_problems"][0]


def test_without_duckdb_one_line_names_the_extra(tmp_path):
    code = (
        "import sys; sys.modules['duckdb'] = None\n"
        "from bevlog.cli import cli\n"
        f"cli(['index', {str(FIX / 'b8')!r}, '--catalog', {str(tmp_path / 'c')!r}], prog_name='bevlog')\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)}
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == "error: the run catalog needs duckdb: pip install 'bevlog[catalog]'"


def test_help_does_not_import_duckdb():
    code = (
        "import sys\nfrom bevlog.cli import cli\n"
        "for args in (['--help'], ['index', '--help'], ['runs', '--help']):\n"
        "    try:\n        cli(args, prog_name='bevlog')\n    except SystemExit as e:\n        assert e.code == 0\n"
        "print('LOADED', [m for m in ('duckdb', 'pandas', 'pyarrow') if m in sys.modules])\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    ).stdout
    assert "LOADED []" in out
