"""The preference trainer's pieces: assistant-only pair masks, the CPU head that projects labelled
positions only (same numbers as TRL's), and IPR's loss (DPO + summed NLL of the chosen side)."""

from __future__ import annotations

import pytest
import torch

SYSTEM = [{"role": "user", "content": "Observation:\nWebShop [SEP] find a red mug [SEP] Search"}]
CHOSEN = [
    {"role": "assistant", "content": "Thought: search.\nAction: search[red mug]"},
    {"role": "user", "content": "Observation:\nB0AAAAAAAA [SEP] Red Mug [SEP] $5.00"},
    {"role": "assistant", "content": "Thought: open it.\nAction: click[B0AAAAAAAA]"},
]
REJECTED = [{"role": "assistant", "content": "Thought: buy.\nAction: click[buy now]"}]


def _batch(tokenizer, pairs):
    from harness.training.preference import MaskedPreferenceCollator, tokenize_pair

    examples = [tokenize_pair(tokenizer, *p) for p in pairs]
    return MaskedPreferenceCollator(tokenizer.pad_token_id)(examples)


def test_tokenize_pair_masks_only_assistant_tokens(tiny_model):
    from harness.models import load_tokenizer
    from harness.training.preference import tokenize_pair

    tok = load_tokenizer(str(tiny_model))
    ex = tokenize_pair(tok, SYSTEM, CHOSEN, REJECTED)
    def text(ids, mask, keep):
        return tok.decode([t for t, m in zip(ids, mask) if m == keep]).replace(" ", "")

    scored, masked = text(ex["chosen_ids"], ex["chosen_mask"], 1), text(ex["chosen_ids"], ex["chosen_mask"], 0)
    assert "Action:search[redmug]" in scored and "Action:click[B0AAAAAAAA]" in scored
    assert "RedMug" in masked and "RedMug" not in scored  # the observation turn is not the policy's
    assert "findaredmug" not in scored  # nor is the prompt
    assert sum(ex["rejected_mask"]) > 0


def _trl_patched(path):
    from trl.trainer.utils import add_fused_lm_head

    from harness.models import load_model

    model = load_model(str(path))
    add_fused_lm_head(model, outputs=("log_probs", "entropy", "mean_logits", "is_top1"))
    return model


def test_labelled_positions_head_matches_trl_values_and_gradients(tiny_model):
    from harness.models import load_tokenizer
    from harness.training.labelled_positions_head import project_labelled_positions_only

    tok = load_tokenizer(str(tiny_model))
    batch = _batch(tok, [(SYSTEM, CHOSEN, REJECTED), (SYSTEM, REJECTED, CHOSEN)])
    labels = batch["input_ids"].masked_fill(batch["completion_mask"] == 0, -100)
    trl_model, ours = _trl_patched(tiny_model), _trl_patched(tiny_model)
    project_labelled_positions_only(ours)
    results = []
    for model in (trl_model, ours):
        out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=labels, fused_lm_head=True)
        out.log_probs.sum().backward()
        grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
        results.append((out, grads))
    (ref, ref_grads), (got, got_grads) = results
    mask = labels[:, 1:] != -100
    assert mask.sum() > 0 and (~mask).sum() > 0
    assert torch.allclose(got.log_probs, ref.log_probs, atol=1e-5)
    assert (got.log_probs[~mask] == 0).all()
    assert torch.allclose(got.entropy[mask], ref.entropy[mask], atol=1e-4)
    assert torch.allclose(got.mean_logits[mask], ref.mean_logits[mask], atol=1e-5)
    assert torch.equal(got.is_top1[mask], ref.is_top1[mask])
    assert set(got_grads) == set(ref_grads)
    for name in ref_grads:
        assert torch.allclose(got_grads[name], ref_grads[name], atol=1e-5, rtol=1e-4), name


def test_labelled_positions_head_leaves_plain_calls_alone(tiny_model):
    from harness.models import load_tokenizer
    from harness.training.labelled_positions_head import project_labelled_positions_only

    tok = load_tokenizer(str(tiny_model))
    model = _trl_patched(tiny_model)
    ids = tok("Thought: search.", return_tensors="pt")["input_ids"]
    before = model(input_ids=ids).logits
    project_labelled_positions_only(model)
    assert torch.allclose(model(input_ids=ids).logits, before)


def test_ipr_loss_is_dpo_plus_summed_chosen_nll(tiny_model, tmp_path):
    """L = -log sigmoid(beta * margin) + mean over pairs of the SUMMED chosen NLL (paper Eq. 6)."""
    import torch.nn.functional as F
    from datasets import Dataset

    from harness.models import load_model, load_tokenizer
    from harness.training.preference import make_ipr_trainer_class, preference_config

    tok = load_tokenizer(str(tiny_model))
    policy, reference = load_model(str(tiny_model)), load_model(str(tiny_model))
    with torch.no_grad():  # a policy that differs from its reference, so the DPO term is not log 2
        for p in policy.parameters():
            p.add_(0.01 * torch.randn(p.shape, generator=torch.Generator().manual_seed(0)))
    rows = [{"prompt": SYSTEM, "chosen": CHOSEN, "rejected": REJECTED}, {"prompt": SYSTEM, "chosen": REJECTED, "rejected": CHOSEN}]
    beta = 0.3
    config = preference_config(str(tmp_path), "sum", beta=beta, per_device_train_batch_size=2, max_length=512)
    trainer = make_ipr_trainer_class()(model=policy, ref_model=reference, args=config,
                                       train_dataset=Dataset.from_list(rows), processing_class=tok, nll="sum")  # fmt: skip
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(2)])
    loss = trainer.compute_loss(trainer.model, batch).item()

    def summed_logps(model):
        labels = batch["input_ids"][:, 1:]
        logits = model.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
        logp = model.lm_head(logits[:, :-1]).log_softmax(-1).gather(-1, labels.unsqueeze(-1)).squeeze(-1)
        return (logp * batch["completion_mask"][:, 1:]).sum(1).chunk(2)

    with torch.no_grad():
        (pc, pr), (rc, rr) = summed_logps(policy), summed_logps(reference)
    expected = (-F.logsigmoid(beta * ((pc - rc) - (pr - rr)))).mean() + (-pc).mean()
    assert loss == pytest.approx(expected.item(), rel=1e-4)


def test_sft_loss_from_labelled_positions_equals_the_models_own(tiny_model):
    """Loss and gradients of the labelled-positions-only SFT loss equal the model's full-logits loss."""
    from harness.models import load_model
    from harness.training.labelled_positions_head import labelled_positions_loss_only

    torch.manual_seed(0)
    ids = torch.randint(10, 400, (2, 40))
    labels = ids.masked_fill(torch.rand(2, 40) < 0.7, -100)
    grads = []
    for patched in (False, True):
        model = load_model(str(tiny_model), device="cpu")
        if patched:
            labelled_positions_loss_only(model)
        for kw in ({}, {"num_items_in_batch": torch.tensor(50)}):
            model.zero_grad()
            loss = model(input_ids=ids, attention_mask=torch.ones_like(ids), labels=labels, **kw).loss
            loss.backward()
            grads.append((loss.item(), model.model.layers[0].mlp.up_proj.weight.grad.clone()))
    for (a_loss, a_grad), (b_loss, b_grad) in zip(grads[:2], grads[2:], strict=True):
        assert b_loss == pytest.approx(a_loss, rel=1e-5)
        torch.testing.assert_close(b_grad, a_grad, rtol=1e-4, atol=1e-7)
