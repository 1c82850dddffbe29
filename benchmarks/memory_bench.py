"""Peak memory of `bevlog parse / diagnose / report` and `bevlog watch` on big logs.

    python benchmarks/memory_bench.py                  # 1 GB text + 1 GB json (the issue's size)
    python benchmarks/memory_bench.py --mb 200         # develop with a smaller log
    python benchmarks/memory_bench.py --mb 200 --only watch
    python benchmarks/memory_bench.py --runs 500       # also: job count on a dir of many runs

1. Peak RSS / file size. A text and a json log of about --mb MB are generated in --tmp by
   tiling the real DETR3D log of fixtures/real/set1 (`.log` and `.log.json`): each copy's
   epochs are renumbered to follow the previous copy's (and its timestamps moved on by
   whole days), and the config's `max_epochs` names the total, so the file stays one valid
   run. Each command runs in a fresh process (the installed entry point's code through
   `python -m bevlog`, with this checkout first on PYTHONPATH); its peak resident set
   comes from `os.wait4` (the kernel's ru_maxrss of exactly that child).
2. watch. The text log is copied to a live file; `bevlog watch --interval I` follows it
   while a writer process appends the next tile's train lines at --rate lines/s. After
   --settle seconds the writer writes a line whose loss is `nan`; the lag is the time
   from that write to watch printing the nonfinite-loss finding. watch's RSS is sampled
   from /proc every 0.5 s: the peak of the first read, then the lowest and highest
   value after it (flat memory: the two stay close while the file grows).
3. --runs N: `bevlog diagnose DIR` on N small runs (copies of the StreamPETR console
   capture, one per folder) with the default job count (which follows the number of runs
   found) and with -j 1: wall time and CPU seconds of all processes per wall second
   (≈ cores kept busy).

Only one big measurement runs at a time; the generated files are deleted at the end
(--keep keeps them). The machine is shared: check `free -g` before a 1 GB run.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REAL = os.path.join(REPO, "fixtures", "real", "set1")
SOURCE_TEXT = os.path.join(REAL, "PrymceQ__3DDetection_DETR3D__20230727_114037.log")
SOURCE_JSON = SOURCE_TEXT + ".json"
SMALL_RUN = os.path.join(REAL, "eb45__StreamPETR_TTC_Head__run-20260409_140746-x2mo2co1_output.log")
EPOCHS = 24  # epochs of the DETR3D log
DAYS = 4  # the DETR3D run took < 4 days: copy k is moved on by 4k days
TRAIN_EPOCH = re.compile(r"Epoch (?:\(val\) )?\[(\d+)\]")


# --- generating the logs -----------------------------------------------------------------


def _split_text(path: str) -> tuple[str, list[str]]:
    """(header, body lines): the body starts at the first train line."""
    with open(path, encoding="utf-8") as f:
        lines = f.readlines()
    first = next(i for i, line in enumerate(lines) if " - INFO - Epoch [" in line)
    return "".join(lines[:first]), lines[first:]


def _text_body_template(body: list[str]):
    """Each body line as (date, before-epoch, epoch, after-epoch) for fast renumbering."""
    out = []
    for line in body:
        m = re.match(r"^(\d{4}-\d{2}-\d{2})(.*?(?:Epoch(?:\(val\))? \[|Saving checkpoint at ))(\d+)(.*)$", line, re.S)
        if m:
            out.append((m.group(1), m.group(2), int(m.group(3)), m.group(4)))
        else:
            date = line[:10] if re.match(r"\d{4}-\d{2}-\d{2}", line) else None
            out.append((date, line[10:] if date else line, None, ""))
    return out


def _shift_date(date: str, days: int) -> str:
    import datetime as dt

    return (dt.date.fromisoformat(date) + dt.timedelta(days=days)).isoformat()


def text_tile(template, k: int) -> str:
    """Copy k of the body: epochs + 24k, dates + 4k days."""
    dates = {}
    parts = []
    for date, head, epoch, tail in template:
        if date is not None:
            if date not in dates:
                dates[date] = _shift_date(date, DAYS * k)
            parts.append(dates[date])
        parts.append(head)
        if epoch is not None:
            parts.append(str(epoch + EPOCHS * k))
            parts.append(tail)
    return "".join(parts)


def generate_text(out: str, target_mb: float) -> int:
    header, body = _split_text(SOURCE_TEXT)
    template = _text_body_template(body)
    tile_bytes = len("".join(body).encode())
    copies = max(1, round(target_mb * 1e6 / tile_bytes))
    total = EPOCHS * copies
    header = header.replace(f"max_epochs={EPOCHS})", f"max_epochs={total})").replace(
        f"max: {EPOCHS} epochs", f"max: {total} epochs"
    )
    with open(out, "w", encoding="utf-8") as f:
        f.write(header)
        for k in range(copies):
            f.write(text_tile(template, k))
    return copies


def generate_json(out: str, target_mb: float) -> int:
    with open(SOURCE_JSON, encoding="utf-8") as f:
        meta, *rows = f.readlines()
    tile_bytes = len("".join(rows).encode())
    copies = max(1, round(target_mb * 1e6 / tile_bytes))
    meta = meta.replace(f"max_epochs={EPOCHS})", f"max_epochs={EPOCHS * copies})")
    split = [re.match(r'^(.*?"epoch": )(\d+)(.*)$', r, re.S).groups() for r in rows]
    with open(out, "w", encoding="utf-8") as f:
        f.write(meta)
        for k in range(copies):
            f.write("".join(f"{a}{int(e) + EPOCHS * k}{b}" for a, e, b in split))
    return copies


# --- measuring ---------------------------------------------------------------------------


def env() -> dict:
    e = dict(os.environ)
    e["PYTHONPATH"] = REPO + (os.pathsep + e["PYTHONPATH"] if e.get("PYTHONPATH") else "")
    return e


def bevlog_cmd(*args) -> list[str]:
    return [sys.executable, "-m", "bevlog", *args]


def peak_rss(cmd) -> tuple[float, float, int]:
    """(peak RSS in bytes, wall seconds, exit code) of `cmd` run as a fresh child."""
    t = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env())
    err = p.stderr.read()
    _, status, usage = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t
    if p.returncode not in (0, 1):
        sys.stderr.write(err.decode(errors="replace")[-2000:])
    return usage.ru_maxrss * 1024.0, wall, p.returncode


def rss_of(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024.0
    except OSError:
        return None
    return None


def measure_commands(path: str, kind: str, tmp: str, commands) -> list[tuple]:
    rows = []
    size = os.path.getsize(path)
    for name in commands:
        args = {
            "parse": ["parse", path],
            "diagnose": ["diagnose", path],
            "report": ["report", path, "-o", os.path.join(tmp, "memory_bench_report.html")],
        }[name]
        peak, wall, rc = peak_rss(bevlog_cmd(*args))
        rows.append((name, kind, size, peak, wall, rc))
        print(
            f"  {name:<9} {os.path.basename(path):<22} {size / 1e6:8.0f} MB  peak {peak / 1e6:8.0f} MB"
            f"  = {peak / size:4.2f}x  {wall:6.1f} s  rc {rc}",
            flush=True,
        )
    return rows


# --- watch ---------------------------------------------------------------------------------


def nan_version(line: str) -> str:
    """The same train line with a nan loss (one bad iteration in the interval)."""
    line = re.sub(r"(loss_cls: )[0-9.]+", r"\g<1>nan", line, count=1)
    return re.sub(r"(, loss: )[0-9.]+", r"\g<1>nan", line)


def writer(path: str, lines: list[str], rate: float, settle: float, stamp: dict, stop) -> None:
    """Append `lines` at `rate` lines/s; the first line due after `settle` s has a nan loss
    (its write time goes to stamp["nan"])."""
    t0 = time.perf_counter()
    written = 0
    with open(path, "a", encoding="utf-8") as f:
        while not stop.is_set() and written < len(lines):
            now = time.perf_counter() - t0
            due = min(len(lines), int(now * rate))
            if due > written:
                chunk = lines[written:due]
                if "nan" not in stamp and now >= settle:
                    chunk[0] = nan_version(chunk[0])
                    f.writelines(chunk)
                    f.flush()
                    stamp["nan"] = time.perf_counter()
                else:
                    f.writelines(chunk)
                    f.flush()
                written = due
            time.sleep(0.005)
    stamp["written"] = written


def measure_watch(text_path: str, tmp: str, rate: float, settle: float, after: float, interval: float):
    live = os.path.join(tmp, "20990101_000000.log")
    shutil.copyfile(text_path, live)
    size = os.path.getsize(live)
    # the lines a training would write next: the following copies' train lines
    with open(live, "rb") as f:
        f.seek(max(0, size - 200_000))
        last_epoch = max(int(m) for m in re.findall(rb"Epoch \[(\d+)\]", f.read()))
    _, body = _split_text(SOURCE_TEXT)
    template = _text_body_template(body)
    more: list[str] = []
    k = last_epoch // EPOCHS
    while len(more) < rate * (settle + after) + 10:
        more += [line for line in text_tile(template, k).splitlines(keepends=True) if " - INFO - Epoch [" in line]
        k += 1
    proc = subprocess.Popen(
        bevlog_cmd("watch", live, "--interval", str(interval), "--format", "json"),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env(),
        text=True,
    )
    samples: list[tuple[float, float]] = []
    seen: dict = {}
    stamp: dict = {}
    stop = threading.Event()
    t0 = time.perf_counter()

    def read_out():
        for line in proc.stdout:
            now = time.perf_counter()
            seen.setdefault("first", now)
            if '"nonfinite-loss"' in line and "nan" in stamp:
                seen.setdefault("nan", now)

    threading.Thread(target=read_out, daemon=True).start()
    # the first read ends with the first full pass's findings (or, with none, when the RSS settles)
    while time.perf_counter() - t0 < 900 and "first" not in seen:
        r = rss_of(proc.pid)
        samples.append((time.perf_counter() - t0, r or 0.0))
        if len(samples) > 20 and r and all(abs(x[1] - r) < 0.005 * r for x in samples[-10:]):
            break
        time.sleep(0.25)
    started = time.perf_counter() - t0
    th = threading.Thread(target=writer, args=(live, more, rate, settle, stamp, stop), daemon=True)
    th.start()
    while time.perf_counter() - t0 < started + settle + after:
        samples.append((time.perf_counter() - t0, rss_of(proc.pid) or 0.0))
        time.sleep(0.25)
    stop.set()
    th.join()
    time.sleep(min(5.0, 4 * interval))  # a late finding still counts (the lag says how late)
    proc.terminate()
    proc.wait()
    lag = seen["nan"] - stamp["nan"] if "nan" in seen and "nan" in stamp else None
    during = [r for t, r in samples if t >= started + 2 * interval + 1]  # after the first read settled
    grown = os.path.getsize(live) - size
    os.remove(live)
    return {
        "size": size,
        "first_read_s": started,
        "peak_first": max(r for t, r in samples if t < started + 1),
        "min_after": min(during),
        "max_after": max(during),
        "lag": lag,
        "grown": grown,
        "lines": stamp.get("written", 0),
        "seconds": settle + after,
    }


# --- many runs ----------------------------------------------------------------------------


def measure_many(tmp: str, n: int):
    root = os.path.join(tmp, "many_runs")
    for k in range(n):
        d = os.path.join(root, f"run{k:05d}")
        os.makedirs(d)
        shutil.copyfile(SMALL_RUN, os.path.join(d, "20260409_140746.log"))
    from bevlog.parallel import default_jobs

    out = {"runs": n, "jobs": default_jobs(n, None), "cores": os.cpu_count()}
    for label, extra in (("default", []), ("one", ["-j", "1"])):
        t = time.perf_counter()
        before = os.times()
        p = subprocess.Popen(
            bevlog_cmd("diagnose", root, "--format", "json", *extra),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env(),
        )
        _, status, usage = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t
        after = os.times()
        cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
        out[label] = {
            "wall": wall,
            "cpu": cpu,
            "rc": os.waitstatus_to_exitcode(status),
            "peak": usage.ru_maxrss * 1024.0,
        }
    shutil.rmtree(root)
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mb", type=float, default=1000.0, help="size of each generated log (default 1 GB)")
    ap.add_argument("--tmp", default=tempfile.gettempdir(), help="where the logs are generated")
    ap.add_argument(
        "--only",
        choices=["commands", "watch", "many"],
        action="append",
        help="run only these parts (repeatable; default: commands and watch)",
    )
    ap.add_argument("--formats", default="text,json", help="text, json or both (commands part)")
    ap.add_argument("--commands", default="parse,diagnose,report")
    ap.add_argument("--rate", type=float, default=1000.0, help="watch: lines appended per second")
    ap.add_argument("--interval", type=float, default=1.0, help="watch --interval")
    ap.add_argument("--settle", type=float, default=10.0, help="watch: seconds of appending before the nan line")
    ap.add_argument("--after", type=float, default=20.0, help="watch: seconds of appending after it")
    ap.add_argument("--runs", type=int, default=0, help="many: number of small runs in one work dir")
    ap.add_argument("--keep", action="store_true", help="keep the generated logs")
    args = ap.parse_args(argv)
    parts = args.only or (["commands", "watch"] + (["many"] if args.runs else []))
    tmp = tempfile.mkdtemp(prefix="bevlog_memory_", dir=args.tmp)
    text = os.path.join(tmp, "big.log")
    js = os.path.join(tmp, "big.log.json")
    formats = args.formats.split(",")
    rows = []
    try:
        print(f"machine: {os.cpu_count()} cores, {_mem_total() / 2**30:.0f} GiB; python {sys.version.split()[0]}")
        if "commands" in parts or "watch" in parts:
            t = time.perf_counter()
            if "text" in formats or "watch" in parts:
                n = generate_text(text, args.mb)
                print(
                    f"generated {text}: {os.path.getsize(text) / 1e6:.0f} MB ({n} copies, {n * EPOCHS} epochs)"
                    f" in {time.perf_counter() - t:.0f} s",
                    flush=True,
                )
        if "commands" in parts:
            print("peak RSS / file size (fresh process each):", flush=True)
            if "text" in formats:
                rows += measure_commands(text, "text", tmp, args.commands.split(","))
            if "json" in formats:
                t = time.perf_counter()
                n = generate_json(js, args.mb)
                print(
                    f"generated {js}: {os.path.getsize(js) / 1e6:.0f} MB ({n} copies) in "
                    f"{time.perf_counter() - t:.0f} s",
                    flush=True,
                )
                rows += measure_commands(js, "json", tmp, args.commands.split(","))
                os.remove(js)
        w = None
        if "watch" in parts:
            print(
                f"watch on a growing copy of {os.path.basename(text)} ({args.rate:.0f} lines/s, "
                f"--interval {args.interval:g}):",
                flush=True,
            )
            w = measure_watch(text, tmp, args.rate, args.settle, args.after, args.interval)
            lag = f"{w['lag']:.2f} s" if w["lag"] is not None else "finding NOT printed"
            print(
                f"  first read {w['first_read_s']:.1f} s, peak {w['peak_first'] / 1e6:.0f} MB "
                f"({w['peak_first'] / w['size']:.2f}x); then {w['lines']:,} lines (+{w['grown'] / 1e6:.1f} MB) in "
                f"{w['seconds']:.0f} s: RSS {w['min_after'] / 1e6:.0f}–{w['max_after'] / 1e6:.0f} MB; "
                f"nan line -> finding: {lag}",
                flush=True,
            )
        m = None
        if "many" in parts and args.runs:
            m = measure_many(tmp, args.runs)
            d, one = m["default"], m["one"]
            print(
                f"diagnose DIR of {m['runs']} runs: default {m['jobs']} jobs ({m['cores']} cores) {d['wall']:.1f} s, "
                f"{d['cpu'] / d['wall']:.2f} CPU-s per s; -j 1 {one['wall']:.1f} s, {one['cpu'] / one['wall']:.2f} "
                f"CPU-s per s; speed-up x{one['wall'] / d['wall']:.2f}",
                flush=True,
            )
        _table(rows, w, m)
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def _table(rows, w, m) -> None:
    print("\n| command | log | size | peak RSS | peak / size | wall |")
    print("|---|---|---:|---:|---:|---:|")
    for name, kind, size, peak, wall, _rc in rows:
        print(f"| {name} | {kind} | {size / 1e6:.0f} MB | {peak / 1e6:.0f} MB | {peak / size:.2f}x | {wall:.1f} s |")
    if w:
        lag = f"{w['lag']:.2f} s" if w["lag"] is not None else "not printed"
        print(
            f"| watch (first read) | text | {w['size'] / 1e6:.0f} MB | {w['peak_first'] / 1e6:.0f} MB | "
            f"{w['peak_first'] / w['size']:.2f}x | {w['first_read_s']:.1f} s |"
        )
        print(
            f"| watch (growing) | text | +{w['grown'] / 1e6:.1f} MB | {w['min_after'] / 1e6:.0f}–"
            f"{w['max_after'] / 1e6:.0f} MB | | lag {lag} |"
        )


def _mem_total() -> float:
    with open("/proc/meminfo") as f:
        return int(f.readline().split()[1]) * 1024.0


if __name__ == "__main__":
    main()
