"""Centre-distance AP on hand-made cases whose answers follow from the nuScenes definition."""

import math

import numpy as np
import pytest

from bevdetr.metric import ap_from_precision, center_distance_map, precision_curve


def pred(scores, labels, centers):
    return {
        "scores": np.array(scores, float),
        "labels": np.array(labels),
        "centers": np.array(centers, float).reshape(-1, 2),
    }


def gt(labels, centers):
    return {"labels": np.array(labels), "centers": np.array(centers, float).reshape(-1, 2)}


def ap(preds, gts, th=1.0, label=0):
    return ap_from_precision(precision_curve(preds, gts, label, th))


def test_perfect_detections_score_one():
    gts = [gt([0, 0], [[0, 0], [5, 5]]), gt([0], [[-3, 2]])]
    preds = [pred([0.9, 0.8], [0, 0], [[0.1, 0], [5, 5.2]]), pred([0.7], [0], [[-3, 2]])]
    assert ap(preds, gts) == pytest.approx(1.0)


def test_no_predictions_or_no_ground_truth_score_zero():
    assert ap([pred([], [], [])], [gt([0], [[0, 0]])]) == 0.0
    assert ap([pred([0.9], [0], [[0, 0]])], [gt([], [])]) == 0.0


def test_half_recall_at_full_precision():
    # recall 0.5 at precision 1: 40 of the 90 kept recall points (0.11 .. 0.50) hold 1 - 0.1
    preds = [pred([0.9], [0], [[0, 0]])]
    gts = [gt([0, 0], [[0, 0], [8, 8]])]
    assert ap(preds, gts) == pytest.approx(40 * 0.9 / 90 / 0.9)


def test_false_positive_ranked_first():
    # FP at 0.9 then TP at 0.8: precision rises linearly 0 -> 0.5 over recall 0 -> 1,
    # so AP = sum_{r=0.20..1.00} (0.5 r - 0.1) / 90 / 0.9 = 16.2 / 81 = 0.2
    preds = [pred([0.9, 0.8], [0, 0], [[10, 10], [0, 0]])]
    gts = [gt([0], [[0, 0]])]
    assert ap(preds, gts) == pytest.approx(0.2)


def test_distance_thresholds_are_strict_and_per_threshold():
    preds = [pred([0.9], [0], [[0.7, 0]])]
    gts = [gt([0], [[0, 0]])]
    assert [ap(preds, gts, th) for th in (0.5, 1.0, 2.0, 4.0)] == pytest.approx([0, 1, 1, 1])
    assert ap([pred([0.9], [0], [[1.0, 0]])], gts, th=1.0) == 0.0  # distance == threshold is a miss


def test_greedy_by_score_and_one_match_per_ground_truth():
    # both predictions sit on the single box: the 0.9 one takes it, the 0.5 one is a FP at
    # the same recall, so (as in nuscenes-devkit's np.interp) precision at recall 1.0 is 0.5:
    # AP = (89 * 0.9 + 0.4) / 90 / 0.9
    preds = [pred([0.5, 0.9], [0, 0], [[0, 0], [0.3, 0]])]
    gts = [gt([0], [[0, 0]])]
    prec = precision_curve(preds, gts, 0, 1.0)
    assert prec[:100] == pytest.approx(np.ones(100)) and prec[100] == pytest.approx(0.5)
    assert ap(preds, gts) == pytest.approx((89 * 0.9 + 0.4) / 90 / 0.9)


def test_predictions_match_only_their_own_sample_and_class():
    # class 1: the 0.9 prediction sits on sample 1's box but belongs to sample 0 (FP); the 0.8
    # one finds sample 1's box (TP); the class-0 prediction on sample 0's class-1 box counts
    # for nothing. rec [0, .5], prec [0, .5] -> p(r) = r up to 0.5:
    # AP = sum_{k=1..40} 0.01 k / 90 / 0.9 = 8.2 / 81
    preds = [pred([0.9, 0.95], [1, 0], [[5, 5], [0, 0]]), pred([0.8], [1], [[5, 5]])]
    gts = [gt([1], [[0, 0]]), gt([1], [[5, 5]])]
    assert ap(preds, gts, label=1) == pytest.approx(8.2 / 81)
    assert ap(preds, gts, label=0) == 0.0  # class 0 has no ground truth


def test_map_is_the_mean_over_classes_and_thresholds():
    preds = [pred([0.9, 0.9], [0, 1], [[0.7, 0], [3, 3]])]
    gts = [gt([0, 1], [[0, 0], [3, 3]])]
    res = center_distance_map(preds, gts, ["a", "b"])
    assert res["a_AP_dist_0.5"] == 0.0 and res["a_AP_dist_1.0"] == pytest.approx(1.0)
    assert res["b_AP_dist_0.5"] == pytest.approx(1.0)
    assert res["mAP"] == pytest.approx(7 / 8)
    assert len(res) == 2 * 4 + 1 and all(math.isfinite(v) for v in res.values())


def greedy_reference(preds, gts, label, dist_th):
    """The definition, literally: every prediction of the class in descending score order (ties in
    input order) takes the nearest still-unmatched ground truth of its class in its own sample."""
    centres = [np.asarray(g["centers"], float)[np.asarray(g["labels"]) == label] for g in gts]
    npos = sum(len(c) for c in centres)
    entries = [
        (float(s), i, np.asarray(p["centers"], float)[j])
        for i, p in enumerate(preds)
        for j, (s, lab) in enumerate(zip(p["scores"], p["labels"]))
        if lab == label
    ]
    if npos == 0 or not entries:
        return np.zeros(101)
    taken = [np.zeros(len(c), bool) for c in centres]
    tp = []
    for _, i, centre in sorted(entries, key=lambda e: -e[0]):
        dist = np.linalg.norm(centres[i] - centre, axis=1) if len(centres[i]) else np.array([np.inf])
        dist[: len(taken[i])][taken[i]] = np.inf
        best = int(np.argmin(dist))
        hit = bool(dist[best] < dist_th)
        if hit:
            taken[i][best] = True
        tp.append(float(hit))
    tp_cum = np.cumsum(tp)
    fp_cum = np.cumsum(1.0 - np.array(tp))
    return np.interp(np.linspace(0, 1, 101), tp_cum / npos, tp_cum / (tp_cum + fp_cum), right=0)


def test_the_curve_is_the_greedy_definition_on_random_scenes():
    """precision_curve walks only the predictions that have a box within reach: the same curve,
    to the last digit, as the literal greedy walk over every prediction (ties, boxes at exactly the
    threshold, samples without boxes, a non-finite centre included)."""
    rng = np.random.default_rng(7)
    for trial in range(400):
        preds, gts = [], []
        for _ in range(int(rng.integers(1, 5))):
            q, m = int(rng.integers(0, 10)), int(rng.integers(0, 5))
            scores = rng.choice([0.5, 0.9], q) if trial % 3 == 0 else rng.random(q)
            centres = rng.normal(0, 2, (q, 2)).round(1 if trial % 2 else 8)
            if trial % 40 == 0 and q:
                centres[0, 0] = np.nan
            preds.append(pred(scores, rng.integers(0, 2, q), centres))
            gts.append(gt(rng.integers(0, 2, m), rng.normal(0, 2, (m, 2)).round(1 if trial % 2 else 8)))
        for label in (0, 1):
            for th in (0.5, 1.0, 2.0):
                want = greedy_reference(preds, gts, label, th)
                assert np.array_equal(precision_curve(preds, gts, label, th), want), (trial, label, th)
