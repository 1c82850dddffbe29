"""Entropy and max |logit| of attention distributions, from the logits (torch).

One definition for every caller: bevdetr's decoder hands its own logits to `Tally.add`, the
recorder hands the logits it recomputes from an `nn.MultiheadAttention`'s projections. Written
for torch 1.9 and later (no API newer than that).
"""

from __future__ import annotations

import torch


class Tally:
    """Running sums of one layer's statistics over the queries measured so far.

    entropy: mean over queries (every head and sample counts its queries) of the entropy of
    softmax(logits) over the keys the query may attend to, divided by log(that many keys);
    queries with fewer than two such keys say nothing and are skipped. logit_max: the largest
    |logit| over the allowed keys.
    """

    def __init__(self):
        self.entropy_sum = 0.0
        self.queries = 0
        self.logit_max: float | None = None

    @torch.no_grad()
    def add(self, logits: torch.Tensor, bias: torch.Tensor | None = None, allowed: torch.Tensor | None = None) -> None:
        """logits (..., L, S): q·k/√d. bias: an additive mask broadcastable to them (what the
        softmax sees is logits + bias; -inf hides a key). allowed: bool broadcastable to them,
        False where a key is hidden."""
        logits = logits.float()
        ok = torch.ones_like(logits, dtype=torch.bool)
        if allowed is not None:
            ok = ok & allowed
        scores = logits
        if bias is not None:
            bias = bias.float()
            ok = ok & torch.isfinite(bias)
            scores = logits + torch.where(torch.isfinite(bias), bias, torch.zeros_like(bias))
        scores = scores.masked_fill(~ok, float("-inf"))
        keys = ok.sum(-1)  # (..., L)
        valid = keys >= 2
        if bool(ok.any()):
            top = float(logits.abs().masked_fill(~ok, 0.0).amax())
            self.logit_max = top if self.logit_max is None else max(self.logit_max, top)
        if not bool(valid.any()):
            return
        logp = torch.log_softmax(scores[valid], dim=-1)  # (n, S)
        terms = torch.where(ok[valid], logp.exp() * logp, torch.zeros_like(logp))
        entropy = -terms.sum(-1) / keys[valid].double().log().float()
        self.entropy_sum += float(entropy.double().sum())
        self.queries += int(valid.sum())

    def result(self) -> tuple[float, float] | None:
        """(normalised entropy, max |logit|), or None when nothing was measured."""
        if not self.queries or self.logit_max is None:
            return None
        return self.entropy_sum / self.queries, self.logit_max


def statistics(
    logits: torch.Tensor, bias: torch.Tensor | None = None, allowed: torch.Tensor | None = None
) -> tuple[float, float] | None:
    """(normalised entropy, max |logit|) of one set of logits (see `Tally`)."""
    tally = Tally()
    tally.add(logits, bias, allowed)
    return tally.result()
