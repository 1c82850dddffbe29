"""Hungarian matcher: batched == one-by-one, optimal on small cases, empty targets."""

import itertools

import torch

from bevdetr.matcher import HungarianMatcher, focal_cost


def random_batch(sizes, q=7, k=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(len(sizes), q, k, generator=g)
    boxes = torch.randn(len(sizes), q, 8, generator=g) * 3
    targets = [
        {"labels": torch.randint(0, k, (m,), generator=g), "codes": torch.randn(m, 8, generator=g) * 3} for m in sizes
    ]
    return logits, boxes, targets


def total_cost(matcher, logits, boxes, target, rows, cols):
    cost = matcher.cls_weight * focal_cost(logits, target["labels"]) + matcher.bbox_weight * torch.cdist(
        boxes, target["codes"], p=1
    )
    return float(cost[rows, cols].sum())


def test_batched_and_single_agree():
    matcher = HungarianMatcher()
    sizes = [3, 0, 5, 1, 7]
    logits, boxes, targets = random_batch(sizes)
    batched = matcher(logits, boxes, targets)
    assert len(batched) == len(sizes)
    for b, m in enumerate(sizes):
        ((rows, cols),) = matcher(logits[b : b + 1], boxes[b : b + 1], targets[b : b + 1])
        assert torch.equal(rows, batched[b][0]) and torch.equal(cols, batched[b][1])
        assert len(rows) == m and sorted(cols.tolist()) == list(range(m))
        assert len(set(rows.tolist())) == m  # one query per target


def test_matching_is_optimal_against_brute_force():
    matcher = HungarianMatcher()
    logits, boxes, targets = random_batch([3], q=5, seed=3)
    ((rows, cols),) = matcher(logits, boxes, targets)
    found = total_cost(matcher, logits[0], boxes[0], targets[0], rows, cols)
    best = min(
        total_cost(matcher, logits[0], boxes[0], targets[0], torch.tensor(p), torch.arange(3))
        for p in itertools.permutations(range(5), 3)
    )
    assert abs(found - best) < 1e-5


def test_obvious_assignment_is_found():
    matcher = HungarianMatcher()
    logits = torch.full((1, 4, 3), -5.0)
    boxes = torch.zeros(1, 4, 8)
    boxes[0, 2, 0], boxes[0, 0, 0] = 10.0, -10.0
    targets = [{"labels": torch.tensor([1, 0]), "codes": torch.tensor([[-10.0] + [0] * 7, [10.0] + [0] * 7])}]
    ((rows, cols),) = matcher(logits, boxes, targets)
    assert dict(zip(cols.tolist(), rows.tolist())) == {0: 0, 1: 2}


def test_empty_targets():
    matcher = HungarianMatcher()
    logits, boxes, targets = random_batch([0, 0])
    out = matcher(logits, boxes, targets)
    assert [(len(r), len(c)) for r, c in out] == [(0, 0), (0, 0)]
    assert all(r.dtype == torch.int64 for r, _ in out)
