"""Copy pretraining: seeded, recorded, and it lowers the loss on repeated corpus spans."""

from __future__ import annotations

import json

import pytest

from harness.training.copy_pretraining import CopyPretraining, copy_pretrain

TEXTS = [f"Instruction: [SEP] i need a {c} {t} with {a} finish [SEP] B0{n:04d}XY [SEP] price ${n}.99"
         for n, (c, t, a) in enumerate([("red", "lamp", "matte"), ("blue", "chair", "gloss"), ("green", "rug", "soft"),
                                        ("navy", "mug", "satin")] * 30)]  # fmt: skip


def fresh_micro(tmp_path, name):
    from harness.models import init_model, load_model, load_tokenizer

    path = init_model("micro", "webshop", tmp_path / name, corpus_tasks=20)
    return load_model(str(path)), load_tokenizer(str(path))


def test_copy_pretraining_lowers_the_loss_and_is_seeded(tmp_path):
    settings = CopyPretraining(steps=60, batch_size=8, span=12, max_filler=8, learning_rate=1e-2, warmup_steps=5)
    model, tok = fresh_micro(tmp_path, "a")
    out = copy_pretrain(model, tok, TEXTS, settings, seed=3, log=lambda _: None)
    assert out["steps"] == 60 and out["loss_last20"] < 0.7 * out["loss_first"]
    again, tok2 = fresh_micro(tmp_path, "b")
    assert copy_pretrain(again, tok2, TEXTS, settings, seed=3, log=lambda _: None)["loss_last20"] == pytest.approx(out["loss_last20"])


def test_zero_steps_is_a_no_op_and_a_short_corpus_is_named(tmp_path):
    model, tok = fresh_micro(tmp_path, "c")
    assert copy_pretrain(model, tok, TEXTS, CopyPretraining(steps=0), seed=0) == {"steps": 0}
    with pytest.raises(ValueError, match="use more corpus tasks"):
        copy_pretrain(model, tok, ["too short"], CopyPretraining(steps=5), seed=0)


def test_model_init_records_copy_pretraining(tmp_path):
    from harness.models import init_model

    path = init_model("micro", "webshop", tmp_path / "m", corpus_tasks=20,
                      copy_pretraining=CopyPretraining(steps=3, batch_size=2, span=8, max_filler=4))  # fmt: skip
    manifest = json.loads((path / "harness_model.json").read_text())
    assert manifest["copy_pretraining"]["steps"] == 3 and manifest["copy_pretraining"]["span"] == 8
    assert "loss_last20" in manifest["copy_pretraining"]
