"""Unpadded attention for CPU training gives transformers' sdpa results on every real token."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("side", ["right", "left"])  # right: the per-sequence path; left: the masked fallback
def test_unpadded_attention_matches_sdpa_on_real_tokens(tmp_path, side):
    import torch

    from harness.models import init_model, load_model
    from harness.training.unpadded_attention import NAME, use_unpadded_attention

    model = load_model(str(init_model("micro", "webshop", tmp_path / "m", corpus_tasks=20)), device="cpu")
    torch.manual_seed(0)
    lengths = [37, 12, 30, 1]
    width = max(lengths)
    ids = torch.randint(5, 500, (len(lengths), width))
    mask = torch.zeros_like(ids)
    for b, n in enumerate(lengths):
        mask[b, :n] = 1 if side == "right" else 0
        if side == "left":
            mask[b, width - n :] = 1
    positions = (mask.cumsum(-1) - 1).clamp(min=0)  # what generate passes for left padding
    with torch.no_grad():
        want = model(input_ids=ids, attention_mask=mask, position_ids=positions).logits
        assert use_unpadded_attention(model) and model.config._attn_implementation == NAME
        got = model(input_ids=ids, attention_mask=mask, position_ids=positions).logits
    real = mask.bool()
    assert torch.allclose(got[real], want[real], atol=1e-4)
    assert not torch.allclose(got[real], torch.zeros_like(got[real]))
