"""How bytes reach the parser: stdin, .gz, CRLF, bytes that are not UTF-8, cut files,
empty and binary files. Broken variants of real logs are made in a temporary folder."""

import gzip
import io
import subprocess
import sys

import numpy as np
import pytest
from parsers_testlib import DETR3D, STREAMPETR, read_cached, real

import parsers


def _same_train(a, b, ignore=("run",)):
    assert list(a.columns) == list(b.columns)
    for c in a.columns:
        if c in ignore:
            continue
        assert np.array_equal(a[c].to_numpy(float), b[c].to_numpy(float), equal_nan=True), c


@pytest.fixture(scope="module")
def stream_text():
    return real(f"{STREAMPETR}.log").read_bytes()


def test_stdin(monkeypatch, stream_text):
    class Stdin:
        buffer = io.BytesIO(stream_text)

    monkeypatch.setattr(sys, "stdin", Stdin)
    run = parsers.read("-")
    assert run.meta["name"] == "stdin" and run.meta["sources"] == ["<stdin>"]
    _same_train(run.train, read_cached(real(f"{STREAMPETR}.log")).train)


def test_gzip_is_recognised_by_content(tmp_path, stream_text):
    p = tmp_path / "20230725_174411.log.gz"
    p.write_bytes(gzip.compress(stream_text))
    _same_train(parsers.read(str(p)).train, read_cached(real(f"{STREAMPETR}.log")).train)
    q = tmp_path / "renamed.txt"  # gzip data under a name that does not say so
    q.write_bytes(gzip.compress(stream_text))
    assert len(parsers.read(str(q)).train) == 843


def test_gzip_cut_short_keeps_what_it_can(tmp_path, stream_text):
    data = gzip.compress(stream_text)
    p = tmp_path / "cut.log.gz"
    p.write_bytes(data[: len(data) // 2])
    run = parsers.read(str(p))
    assert 0 < len(run.train) < 843
    assert run.meta["skipped"].get("truncated last line", 0) <= 1


def test_crlf_gives_the_same_rows(tmp_path, stream_text):
    p = tmp_path / "crlf.log"
    p.write_bytes(stream_text.replace(b"\n", b"\r\n"))
    run = parsers.read(str(p))
    _same_train(run.train, read_cached(real(f"{STREAMPETR}.log")).train)
    assert run.meta["format"] == "mmcv-text"  # CRLF is not a console capture


def test_bytes_that_are_not_utf8(tmp_path, stream_text):
    lines = stream_text.split(b"\n")
    k = next(i for i, line in enumerate(lines) if b"Iter [100/42192]" in line)
    lines[k] = lines[k].replace(b"loss_cls: ", b"loss_cls\xff\xfe: ", 1)  # a mangled key
    lines[3] = lines[3] + b" \xc3\x28 caf\xe9"  # in the env block
    p = tmp_path / "bad_bytes.log"
    p.write_bytes(b"\n".join(lines))
    run = parsers.read(str(p))
    assert len(run.train) == 843
    assert run.meta["skipped"]["lines with non-UTF-8 bytes (replaced)"] == 2
    row = run.train[run.train.step == 100].iloc[0]
    assert np.isnan(row["frame_0_loss_cls"])  # the mangled key became another column
    assert any(c.startswith("frame_0_loss_cls\ufffd") for c in run.train.columns)


def test_truncated_last_line_gives_no_row(tmp_path):
    data = real(f"{DETR3D}.log").read_bytes()
    cut = data[: data.rindex(b"Epoch [24][7000/7033]") + 200]  # writer killed mid-line
    p = tmp_path / "killed.log"
    p.write_bytes(cut)
    run = parsers.read(str(p))
    assert len(run.train) == 3360 - 1
    assert run.meta["skipped"] == {"truncated last line": 1}
    last_line = cut.count(b"\n") + 1
    assert run.meta["skipped_lines"]["truncated last line"] == [f"{p}:{last_line}"]
    assert run.meta["ended"] == "stopped"  # [6950/7033] is not the end of epoch 24


def test_json_truncated_last_line(tmp_path):
    data = real(f"{STREAMPETR}.log.json").read_bytes()
    p = tmp_path / "x.log.json"
    p.write_bytes(data[: data.rindex(b'{"mode": "train"') + 300])
    run = parsers.read(str(p))
    assert len(run.train) == 842
    assert run.meta["skipped"] == {"truncated last line (invalid JSON)": 1}


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "empty file"),
        (b"  \n\n ", "empty file"),
        (bytes(range(256)) * 40, "not a training log"),
        (b"hello\nworld\n", "not a training log"),
        (b'{"a": "b"}\n', "no readable JSON log rows"),
        (b"[1, 2, 3]\n", "not a training log"),
    ],
)
def test_unreadable_input_is_one_parse_error_naming_the_file(tmp_path, content, message):
    p = tmp_path / "thing.log"
    p.write_bytes(content)
    with pytest.raises(parsers.ParseError) as err:
        parsers.read(str(p))
    text = str(err.value)
    assert "\n" not in text and text.startswith(str(p)) and message in text


def test_missing_path_and_directory_without_logs(tmp_path):
    with pytest.raises(parsers.ParseError, match="no such file"):
        parsers.read(str(tmp_path / "nope.log"))
    (tmp_path / "notes.txt").write_text("nothing to see")
    with pytest.raises(parsers.ParseError, match="no training log found"):
        parsers.read(str(tmp_path))


def test_invalid_json_lines_are_counted_with_line_numbers(tmp_path):
    lines = real(f"{STREAMPETR}.log.json").read_bytes().split(b"\n")
    lines[10] = lines[10][:40]  # a corrupt row in the middle
    lines.insert(20, b"not json at all")
    p = tmp_path / "x.log.json"
    p.write_bytes(b"\n".join(lines))
    run = parsers.read(str(p))
    assert len(run.train) == 843 - 1
    assert run.meta["skipped"] == {"invalid JSON line": 2}
    assert run.meta["skipped_lines"]["invalid JSON line"] == [f"{p}:11", f"{p}:21"]


def test_importing_parsers_is_light():
    code = "import sys, parsers; print(sorted(m for m in ('pandas', 'pyarrow', 'numpy') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_json_with_nul_and_non_utf8_bytes_reads_like_bytes_from_stdin(tmp_path, monkeypatch):
    """A json file is read into a numpy array (parsers.io.read_log); NUL and non-UTF-8
    bytes, a CR and a long first line are counted and handled as they are for bytes
    (stdin), row for row."""
    lines = real(f"{STREAMPETR}.log.json").read_bytes().split(b"\n")
    lines[5] = lines[5].replace(b'"frame_0_loss_cls"', b'"frame_0_loss\x00cls"', 1)
    lines[7] = lines[7].replace(b'"frame_0_loss_bbox"', b'"frame_0_loss\xff\xfebbox"', 1)
    lines[9] = lines[9] + b"\r"
    data = b"\n".join(lines)
    p = tmp_path / "20230725_174411.log.json"
    p.write_bytes(data)
    from parsers.io import read_log

    assert isinstance(read_log(str(p)), np.ndarray)
    run = parsers.read(str(p))

    class Stdin:
        buffer = io.BytesIO(data)

    monkeypatch.setattr(sys, "stdin", Stdin)
    piped = parsers.read("-")
    assert len(run.train) == 843 and run.meta["skipped"]["NUL bytes (replaced)"] == 1
    assert run.meta["skipped"]["lines with non-UTF-8 bytes (replaced)"] == 1
    _same_train(run.train, piped.train)
    assert run.meta["skipped"] == piped.meta["skipped"]


def test_json_log_from_a_fifo_is_read_to_its_end(tmp_path):
    """A named pipe (`bevlog parse <(zcat x.log.json.gz)`) has no size: read to its end."""
    import os
    import threading

    data = real(f"{STREAMPETR}.log.json").read_bytes()
    fifo = tmp_path / "piped.log.json"
    os.mkfifo(fifo)

    def write():
        with open(fifo, "wb") as f:
            f.write(data)

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    run = parsers.read(str(fifo))
    writer.join(timeout=10)
    assert len(run.train) == 843
