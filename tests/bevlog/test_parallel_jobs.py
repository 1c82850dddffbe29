"""The number of worker processes follows the number of runs found (one work dir can hold
thousands), not the number of PATH arguments."""

import os
import shutil

from repo_paths import REAL_SET1

from parsers import plan
from parsers.pool import MIN_ITEMS_FOR_POOL, default_jobs

SMALL = REAL_SET1 / "eb45__StreamPETR_TTC_Head__run-20260409_140746-x2mo2co1_output.log"


def test_job_count_follows_the_runs():
    cores = os.cpu_count() or 1
    assert default_jobs(1) == 1
    assert default_jobs(MIN_ITEMS_FOR_POOL - 1) == 1  # a few runs: no process pool
    assert default_jobs(5000) == cores
    assert default_jobs(MIN_ITEMS_FOR_POOL) == min(cores, MIN_ITEMS_FOR_POOL)  # never more workers than runs
    assert default_jobs(5000, jobs=3) == 3  # -j wins
    assert default_jobs(1, jobs=2) == 2


def test_one_work_dir_argument_with_many_runs_gets_every_core(tmp_path):
    root = tmp_path / "work_dirs"
    for k in range(12):
        (root / f"exp{k:02d}").mkdir(parents=True)
        shutil.copyfile(SMALL, root / f"exp{k:02d}" / "20260409_140746.log")
    work, problems = plan([str(root)])  # what read_paths and diagnose_paths count
    assert problems == [] and len(work) == 12
    assert default_jobs(len(work)) == min(os.cpu_count() or 1, 12)
