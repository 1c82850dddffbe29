"""parsers.formats: one table of format modules, each with `sniff` and `read`."""

import pytest
from repo_paths import REAL_LOGS

from parsers import ParseError, read_file
from parsers.formats import ENGINES, FORMATS, SNIFF, detect, module

LOGS = sorted(p for p in REAL_LOGS.rglob("*") if p.is_file() and p.suffix != ".py" and p.name != "README.md")


TEXT = ("mmcv-text", "mmengine-text", "console")


def test_every_format_module_sniffs_and_reads():
    assert [f.name for f in FORMATS] == [
        "mmcv-json",
        "detr-json",
        "detectron2-json",
        "mmengine-json",
        *TEXT,
        "detr-console",
        "detectron2-console",
        "tfevents",
        "ultralytics-csv",
    ]
    for f in FORMATS:
        m = module(f.name)
        assert callable(m.sniff) and callable(m.read), f.name


@pytest.mark.parametrize("path", LOGS, ids=lambda p: str(p.relative_to(REAL_LOGS)))
def test_exactly_one_format_claims_each_real_log(path):
    """The sniffers do not overlap: the table's order is not what tells them apart."""
    head = path.read_bytes()[:SNIFF]
    claims = [f.name for f in FORMATS if module(f.name).sniff(head)]
    assert len(claims) == 1 and detect(path.read_bytes()) == claims[0]
    assert (claims[0] in TEXT) == (path.suffix in (".log", ".out"))


def test_an_unknown_engine_is_refused():
    assert ENGINES == ("fast", "python")
    with pytest.raises(ValueError, match="engine"):
        read_file(str(LOGS[0]), engine="c")


def test_not_a_log(tmp_path):
    p = tmp_path / "notes.log"
    p.write_text("just some text\n")
    with pytest.raises(ParseError, match="not a training log"):
        read_file(str(p))
    p.write_text('{\n  "pretty": 1\n}\n')  # a pretty-printed JSON document is no JSON-lines log
    with pytest.raises(ParseError, match="not a training log"):
        read_file(str(p))
