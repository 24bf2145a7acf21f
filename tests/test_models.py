"""Offline models: `harness model init`, the chat template, and loading with safe defaults."""

from __future__ import annotations

import json

import pytest

from harness.models import CHAT_TEMPLATE, HUB_MODELS, expert_conversations, load_model, load_tokenizer, resolve_model


@pytest.fixture(scope="module")
def tokenizer(tiny_model):
    return load_tokenizer(str(tiny_model))


@pytest.fixture(scope="module")
def conversation():
    return expert_conversations("webshop", limit=3)[0]


def test_init_writes_a_small_safetensors_llama_with_a_manifest(tiny_model):
    names = {p.name for p in tiny_model.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "harness_model.json"} <= names
    assert not any(n.endswith((".bin", ".pt", ".pkl")) for n in names)
    manifest = json.loads((tiny_model / "harness_model.json").read_text())
    assert manifest["preset"]["name"] == "tiny" and manifest["env_id"] == "webshop"
    assert 0.5e6 < manifest["parameters"] < 3e6  # ~2.1M with the default catalog's ASIN tokens
    assert manifest["corpus"]["conversations"] == 200
    config = json.loads((tiny_model / "config.json").read_text())
    assert config["model_type"] == "llama" and config["max_position_embeddings"] == 4096


def test_tokenizer_round_trips_any_text(tokenizer):
    for text in ["Thought: buy it.\nAction: click[b0xy12ab]", "ünïcödé 😀 ½ price < $40.00", "  two  spaces\n\n"]:
        assert tokenizer.decode(tokenizer(text, add_special_tokens=False)["input_ids"]) == text


def test_domain_text_compresses(tokenizer, conversation):
    text = conversation[2]["content"]  # the first observation
    assert len(text) / len(tokenizer(text, add_special_tokens=False)["input_ids"]) > 2.5


def test_prompt_tokens_are_a_prefix_of_the_conversation_tokens(tokenizer, conversation):
    # What the model is prompted with during rollouts must match what it is trained on.
    for k in range(3, len(conversation), 2):  # every assistant turn after the first observation
        prompt = tokenizer.apply_chat_template(conversation[:k], add_generation_prompt=True)["input_ids"]
        full = tokenizer.apply_chat_template(conversation[: k + 1])["input_ids"]
        assert full[: len(prompt)] == prompt


def test_assistant_mask_covers_exactly_the_replies_and_their_end_token(tokenizer, conversation):
    enc = tokenizer.apply_chat_template(conversation, return_assistant_tokens_mask=True, return_dict=True)
    masked = [t for t, m in zip(enc["input_ids"], enc["assistant_masks"], strict=True) if m]
    expected = "".join(m["content"] + tokenizer.eos_token for m in conversation if m["role"] == "assistant")
    assert tokenizer.decode(masked) == expected


def test_trl_sft_trains_on_assistant_tokens_only(tiny_model, tmp_path, conversation):
    pytest.importorskip("trl")
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    model = load_model(str(tiny_model), device="cpu")
    tok = load_tokenizer(str(tiny_model))
    rows = [{"messages": conversation[:4]}] * 4  # short: instruction, OK, observation, one reply
    config = SFTConfig(
        output_dir=str(tmp_path),
        max_steps=2,
        per_device_train_batch_size=2,
        assistant_only_loss=True,
        max_length=512,
        use_cpu=True,
        bf16=False,
        gradient_checkpointing=False,
        report_to=[],
        save_strategy="no",
        disable_tqdm=True,
    )
    trainer = SFTTrainer(model=model, args=config, train_dataset=Dataset.from_list(rows), processing_class=tok)
    sample = trainer.train_dataset[0]
    trained = [t for t, label in zip(sample["input_ids"], sample["labels"], strict=True) if label != -100]
    assert (
        tok.decode(trained) == conversation[1]["content"] + tok.eos_token + conversation[3]["content"] + tok.eos_token
    )
    assert trainer.train().training_loss > 0


def test_paper_names_resolve_to_hub_ids_and_folders_win(tmp_path):
    assert resolve_model("Llama-2-7B") == HUB_MODELS["Llama-2-7B"] == "meta-llama/Llama-2-7b-hf"
    assert resolve_model("org/some-model") == "org/some-model"
    assert resolve_model(str(tmp_path)) == str(tmp_path)
    with pytest.raises(FileNotFoundError, match="Did you mean: Llama-2-7B"):
        resolve_model("Llama-2-7b")


def test_pickled_weights_are_refused(tmp_path, tiny_model):
    (tmp_path / "config.json").write_text((tiny_model / "config.json").read_text())
    (tmp_path / "pytorch_model.bin").write_bytes(b"not loaded")
    with pytest.raises(FileNotFoundError, match="only safetensors"):
        load_model(str(tmp_path))


def test_remote_code_is_not_run_unless_asked(tmp_path, tiny_model):
    config = json.loads((tiny_model / "config.json").read_text())
    config.update(
        model_type="custom-thing",
        auto_map={"AutoConfig": "modeling_custom.CustomConfig", "AutoModelForCausalLM": "modeling_custom.CustomLM"},
    )
    (tmp_path / "config.json").write_text(json.dumps(config))
    (tmp_path / "model.safetensors").write_bytes((tiny_model / "model.safetensors").read_bytes())
    (tmp_path / "modeling_custom.py").write_text("raise SystemExit('remote code ran')\n")
    with pytest.raises(ValueError, match="trust_remote_code"):
        load_model(str(tmp_path))


def test_a_tokenizer_without_a_template_gets_ours(tiny_model, tmp_path):
    tok = load_tokenizer(str(tiny_model))
    tok.chat_template = None
    tok.save_pretrained(tmp_path)
    (tmp_path / "chat_template.jinja").unlink(missing_ok=True)
    assert load_tokenizer(str(tmp_path)).chat_template == CHAT_TEMPLATE


def test_model_init_cli(tmp_path, capsys):
    from harness.cli import main

    out = tmp_path / "m"
    assert (
        main(["model", "init", "--preset", "tiny", "--env", "webshop", "--output", str(out), "--corpus-tasks", "30"])
        == 0
    )
    assert (out / "model.safetensors").exists()
    assert f"--policy hf:{out}" in capsys.readouterr().out
    assert main(["model", "init", "--output", str(out)]) == 2
    assert "not empty" in capsys.readouterr().err
    assert main(["model", "init", "--preset", "huge", "--output", str(tmp_path / "x")]) == 2
    assert "Known: micro, small, tiny" in capsys.readouterr().err


def test_cpu_sft_loss_equals_trl_fused_loss(tiny_model, tmp_path, conversation):
    """The CPU trainer swaps TRL's tiled loss kernel for the model's own: the loss must not change."""
    pytest.importorskip("trl")
    import torch
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    from harness.training.sft import make_sft_trainer_class

    tok = load_tokenizer(str(tiny_model))
    rows = [{"messages": conversation[:4]}, {"messages": conversation}]
    config = SFTConfig(output_dir=str(tmp_path), per_device_train_batch_size=2, assistant_only_loss=True, max_length=512,
                       use_cpu=True, bf16=False, report_to=[], save_strategy="no", disable_tqdm=True)  # fmt: skip
    losses = []
    for cls in (SFTTrainer, make_sft_trainer_class()):
        trainer = cls(model=load_model(str(tiny_model), device="cpu"), args=config, train_dataset=Dataset.from_list(rows),
                      processing_class=tok)  # fmt: skip
        batch = next(iter(trainer.get_train_dataloader()))
        with torch.no_grad():
            losses.append(trainer.compute_loss(trainer.model, dict(batch)).item())
    assert losses[0] > 0
    assert losses[1] == pytest.approx(losses[0], rel=1e-4)


def test_catalog_asins_are_whole_tokens_and_round_trip(tiny_model):
    """A from-scratch tokenizer holds each product ASIN as one token, only where it is a whole word."""
    from harness.envs import make_env

    env = make_env("webshop")
    asins = env.vocabulary_entities()
    tok = load_tokenizer(str(tiny_model))
    manifest = json.loads((tiny_model / "harness_model.json").read_text())
    assert manifest["entity_tokens"]["n"] == len(asins) > 100
    for asin in asins[:5]:
        for text in (f"Action: click[{asin}]", f"[SEP] {asin} [SEP] Some Product"):
            ids = tok(text, add_special_tokens=False)["input_ids"]
            assert tok.convert_tokens_to_ids(asin) in ids and tok.decode(ids) == text
        longer = tok(f"{asin}X", add_special_tokens=False)["input_ids"]
        assert tok.convert_tokens_to_ids(asin) not in longer  # not matched inside a longer word
