"""nuScenes-style detection AP with a centre-distance criterion (nuscenes-devkit's algo.py).

For each class and distance threshold (0.5, 1, 2, 4 m): predictions of that class from all
samples are taken in descending score order; each one matches the nearest still-unmatched
ground-truth box of its class in its own sample when the BEV centre distance is < the
threshold (TP), otherwise it is a FP. Precision is interpolated at 101 recall points
(0, 0.01, ..., 1; 0 beyond the highest recall reached), the points with recall <= 0.1
are dropped, precision is shifted by 0.1 and clipped at 0, and AP is the mean / 0.9.
A class with no ground truth scores 0 (nuScenes' "no predictions" curve). mAP is the
mean over classes and thresholds.
"""

from __future__ import annotations

import numpy as np

DIST_THRESHOLDS = (0.5, 1.0, 2.0, 4.0)
RECALL_POINTS = 101


def precision_curve(preds: list[dict], gts: list[dict], label: int, dist_th: float) -> np.ndarray:
    """Precision at the 101 recall points for one class and threshold.

    preds: per sample {"scores" (N,), "labels" (N,), "centers" (N, 2)}; gts: per sample
    {"labels" (M,), "centers" (M, 2)}. Returns an array of 101 precisions (all 0 when the
    class has no ground truth or no prediction).
    """
    gt_centres = [np.asarray(g["centers"], dtype=float)[np.asarray(g["labels"]) == label] for g in gts]
    npos = sum(len(c) for c in gt_centres)
    mine = [np.asarray(p["labels"]) == label for p in preds]
    scores = [float(s) for p, m in zip(preds, mine) for s in np.asarray(p["scores"])[m]]
    if npos == 0 or not scores:
        return np.zeros(RECALL_POINTS)
    sample = np.repeat(np.arange(len(preds)), [int(m.sum()) for m in mine])
    centres = [np.asarray(p["centers"], dtype=float).reshape(-1, 2)[m] for p, m in zip(preds, mine)]
    # A prediction with no ground truth of its class within the threshold in its sample is a FP
    # whatever was matched before it; only the others need the greedy walk (a margin keeps any
    # rounding of this vectorised distance on the side of walking).
    near = np.concatenate(
        [
            np.zeros(len(c), dtype=bool)
            if not len(g) or not len(c)
            else (np.linalg.norm(c[:, None, :] - g[None, :, :], axis=2) <= dist_th * (1 + 1e-9)).any(axis=1)
            for c, g in zip(centres, gt_centres)
        ]
    )
    first = np.concatenate([[0], np.cumsum([len(c) for c in centres])])
    order = sorted(range(len(scores)), key=lambda k: -scores[k])  # stable: ties keep input order
    taken = [np.zeros(len(c), dtype=bool) for c in gt_centres]
    tp = np.zeros(len(scores))
    for rank, k in enumerate(order):
        if not near[k]:
            continue
        i = int(sample[k])
        centre = centres[i][k - first[i]]
        dist = np.linalg.norm(gt_centres[i] - centre, axis=1)
        dist[taken[i]] = np.inf
        best = int(np.argmin(dist))
        if dist[best] < dist_th:
            taken[i][best] = True
            tp[rank] = 1.0
    tp_cum = np.cumsum(tp)
    fp_cum = np.cumsum(1.0 - tp)
    precision = tp_cum / (tp_cum + fp_cum)
    recall = tp_cum / npos
    return np.interp(np.linspace(0, 1, RECALL_POINTS), recall, precision, right=0)


def ap_from_precision(precision: np.ndarray, min_recall: float = 0.1, min_precision: float = 0.1) -> float:
    """nuScenes calc_ap: drop recall <= min_recall, subtract min_precision, clip at 0, normalise."""
    prec = np.copy(precision)[round(100 * min_recall) + 1 :]
    prec -= min_precision
    prec[prec < 0] = 0
    return float(np.mean(prec)) / (1.0 - min_precision)


def center_distance_map(preds: list[dict], gts: list[dict], class_names, thresholds=DIST_THRESHOLDS) -> dict:
    """{"<class>_AP_dist_<t>": AP, ..., "mAP": mean over classes and thresholds}."""
    results = {}
    for label, name in enumerate(class_names):
        for th in thresholds:
            results[f"{name}_AP_dist_{th}"] = ap_from_precision(precision_curve(preds, gts, label, th))
    results["mAP"] = float(np.mean(list(results.values()))) if results else 0.0
    return results
