"""Model shapes, the decoder's attention modules and box parameterisation."""

import torch

from bevdetr.boxes import decode_boxes, encode_boxes
from bevdetr.model import BEVDETR, decode_detections

KW = dict(num_classes=4, d_model=32, nhead=2, dim_ff=64, num_layers=3, num_queries=10)


def test_output_shapes():
    out = BEVDETR(**KW)(torch.randn(2, 6, 32, 32))
    assert out["pred_logits"].shape == (3, 2, 10, 4)
    assert out["pred_boxes"].shape == (3, 2, 10, 8)


def test_cross_attention_attends_to_every_bev_token_where_the_recorder_finds_it():
    from attnstats.recorder import cross_attentions

    model = BEVDETR(**KW)
    seen = {}

    def record(module, args, output):
        seen["keys"] = args[1].shape

    model.decoder.layers[0].cross_attn.register_forward_hook(record)
    model(torch.randn(1, 6, 32, 32))
    assert seen["keys"] == (1, 16 * 16, 32)  # the stride-2 stem: 16 x 16 tokens of a 32 x 32 grid
    found = cross_attentions(model)
    assert [(k, m) for k, m in found] == [(k, layer.cross_attn) for k, layer in enumerate(model.decoder.layers)]


def test_centres_stay_inside_the_grid_and_start_at_the_reference():
    model = BEVDETR(extent=16.0, **KW)
    with torch.no_grad():
        for p in model.reg_head.layers[-1].parameters():
            p.zero_()
        boxes = model(torch.randn(1, 6, 32, 32))["pred_boxes"]
    ref = model.reference_points.weight.clamp(1e-5, 1 - 1e-5)
    assert torch.allclose(boxes[-1, 0, :, 0], (ref[:, 0] * 2 - 1) * 16, atol=1e-3)
    assert boxes[..., :2].abs().max() <= 16


def test_box_codes_round_trip():
    boxes = torch.tensor([[1.0, -2.0, 0.8, 1.9, 4.4, 1.6, 2.5], [0.0, 3.0, 1.0, 0.7, 0.7, 1.7, -3.0]])
    assert torch.allclose(decode_boxes(encode_boxes(boxes)), boxes, atol=1e-5)


def test_decode_detections_takes_top_scores_over_queries_and_classes():
    logits = torch.full((3, 2), -9.0)
    logits[1, 0], logits[2, 1], logits[2, 0] = 5.0, 4.0, 3.0
    codes = encode_boxes(torch.tensor([[0.0, 0, 0, 1, 1, 1, 0], [5.0, 5, 0, 1, 1, 1, 0], [7.0, 7, 0, 1, 1, 1, 0]]))
    det = decode_detections(logits, codes, max_num=3)
    assert det["labels"].tolist() == [0, 1, 0]
    assert det["centers"][:, 0].tolist() == [5.0, 7.0, 7.0]


def test_gradients_reach_every_parameter():
    for kwargs in (dict(), dict(share_pe=True)):
        model = BEVDETR(**KW, **kwargs)
        out = model(torch.randn(2, 6, 32, 32))
        (out["pred_logits"].sum() + out["pred_boxes"].sum()).backward()
        missing = [n for n, p in model.named_parameters() if p.grad is None]
        assert missing == [], (kwargs, missing)


def test_bf16_autocast_forward_and_losses():
    # the CUDA path runs the forward under bf16 autocast; CPU autocast exercises the same dtype mixing
    from bevdetr.criterion import SetCriterion

    targets = [{"labels": torch.tensor([0, 1]), "codes": torch.randn(2, 8)}] * 2
    model = BEVDETR(**KW)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(torch.randn(2, 6, 32, 32))
    losses = SetCriterion(4)(out, targets)
    losses["loss"].backward()
    assert losses["loss"].dtype == torch.float32 and torch.isfinite(losses["loss"])
