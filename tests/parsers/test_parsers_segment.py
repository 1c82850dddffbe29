"""parsers.segment: every field of a Segment declares its merge policy, the launches of a
run are combined by it (`combine`), a Draft sets only declared fields, line numbers move
together (`shift_lines`). Pieces of one launch are compared with the whole file on every
real text log in tests/parsers/test_chunked.py."""

import dataclasses

import numpy as np
import pytest

from parsers.segment import (
    FIELDS,
    Checkpoint,
    Draft,
    Merge,
    Resume,
    Segment,
    ValLines,
    combine,
    concat_pieces,
    shift_lines,
)


def launch(source, **facts) -> Segment:
    draft = Draft(source, "mmcv-text", "mmcv", **facts)
    return draft.freeze()


def test_every_field_declares_its_meaning_and_policies():
    for name, f in FIELDS.items():
        assert isinstance(f.metadata["merge"], Merge) and isinstance(f.metadata["pieces"], Merge), name
        assert f.metadata["pieces"] is not Merge.PER_LAUNCH, name
        assert f.metadata["doc"].strip(), name


def test_the_launches_of_a_run_combine_each_fact_by_its_policy():
    first = launch(
        "a.log",
        config_text="lr = 1",
        exp_name="a",
        max_epochs=3,
        traceback="KeyError: 'x'",
        resumes=[Resume(line=9, date=None, epoch=1, iter=10)],
        skipped={"other output": 2},
        test_metrics={"mAP": 0.1, "NDS": 0.2},
        runner="epoch",
    )
    second = launch(
        "b.log",
        config_text=None,
        exp_name="b",
        max_epochs=6,
        env_gpus=4,
        resumes=[Resume(line=3, date=None, epoch=2, iter=20)],
        skipped={"other output": 1, "traceback": 5},
        test_metrics={"mAP": 0.3},
    )
    run = [first, second]
    assert combine(run, "config_text") == "lr = 1"  # LATEST: the latest launch that states it
    assert combine(run, "max_epochs") == 6 and combine(run, "exp_name") == "b"  # a resume may extend the plan
    assert combine(run, "env_gpus") == 4
    assert combine(run, "traceback") is None  # LAST: the first launch's crash was resumed
    assert combine([second, first], "traceback") == "KeyError: 'x'"
    assert [r.epoch for r in combine(run, "resumes")] == [1, 2]  # CONCAT
    assert combine(run, "skipped") == {"other output": 3, "traceback": 5}  # SUM, per reason
    assert combine(run, "test_metrics") == {"mAP": 0.3, "NDS": 0.2}  # UPDATE
    assert combine(run, "runner") == "epoch"  # FIRST stated
    with pytest.raises(ValueError, match="not combined"):
        combine(run, "start_date")  # PER_LAUNCH: read launch by launch


def test_pieces_of_one_launch_combine_as_one_file_reads():
    a = launch(
        "x.log",
        exp_name="first",
        env_gpus=2,
        log_lines=10,
        traceback="A: 1",
        start_date="2024-01-01 00:00:00",
        val_lines=ValLines(1, 2, 0),
        epoch=np.array([1.0]),
        iter=np.array([5.0]),
        n=np.array([9.0]),
        step=np.array([np.nan]),
        ts=np.array([0.0]),
        eta_s=np.array([1.0]),
        keys=["loss"],
        values=np.array([[2.0]]),
        present=np.array([[True]]),
        eval_after_row=[0],
        eval_epoch=[1.0],
        eval_step=[np.nan],
        eval_metric=["mAP"],
        eval_value=[0.5],
    )
    b = launch(
        "x.log",
        exp_name="again",
        env_gpus=2,
        log_lines=5,
        traceback=None,
        start_date="2024-01-01 01:00:00",
        val_lines=ValLines(0, 1, 1),
        epoch=np.array([2.0]),
        iter=np.array([5.0]),
        n=np.array([9.0]),
        step=np.array([np.nan]),
        ts=np.array([9.0]),
        eta_s=np.array([0.0]),
        keys=["loss", "lr"],
        values=np.array([[1.0, 0.1]]),
        present=np.array([[True, True]]),
        eval_after_row=[-1, 0],
        eval_epoch=[2.0, 2.0],
        eval_step=[np.nan, np.nan],
        eval_metric=["mAP", "NDS"],
        eval_value=[0.6, 0.2],
    )
    whole = concat_pieces([a, b])
    assert (whole.exp_name, whole.env_gpus, whole.log_lines, whole.traceback) == ("first", 4, 15, "A: 1")
    assert whole.start_date == "2024-01-01 00:00:00" and whole.val_lines == ValLines(1, 3, 1)
    assert whole.keys == ("loss", "lr") and whole.rows == 2
    assert np.array_equal(whole.values, [[2.0, np.nan], [1.0, 0.1]], equal_nan=True)
    assert whole.eval_after_row == (0, 0, 1)  # b's rows come after a's one row


def test_a_draft_sets_only_declared_fields():
    draft = Draft("x.log", "mmcv-text", "mmcv")
    with pytest.raises(AttributeError, match="_train_line_idx"):
        draft._train_line_idx = np.zeros(0)
    draft.skip("other output", 3, [4, 5, 6])
    draft.resumes.append(Resume(line=2, date=None, epoch=1, iter=1))
    seg = draft.freeze()
    assert seg.skipped == {"other output": 3} and seg.skipped_lines == {"other output": (4, 5, 6)}
    with pytest.raises(dataclasses.FrozenInstanceError):
        seg.exp_name = "x"


def test_line_numbers_move_together():
    seg = launch(
        "x.log",
        skipped_lines={"traceback": [3]},
        resumes=[Resume(line=4, date=None, epoch=1, iter=2)],
        checkpoints=[Checkpoint(line=5, count=100, unit="iterations")],
        config_lines=[1],
        env_lines=[2],
    )
    moved = shift_lines(seg, 10)
    assert moved.skipped_lines == {"traceback": (13,)} and moved.resumes[0].line == 14
    assert moved.checkpoints[0].line == 15 and moved.config_lines == (11,) and moved.env_lines == (12,)
