"""StepAgent-Inverse's training primitives on the tiny model: a discriminator that tells expert from
agent actions, its per-step reward, and the KL-regularised policy-gradient update."""

from __future__ import annotations

import pytest

from harness.prompting import build_messages
from harness.training.discriminator import (
    REWARD_CONVENTION,
    DiscriminatorSettings,
    discriminator_rewards,
    encode,
    train_discriminator,
)
from harness.training.policy_gradient import PolicyGradientSettings, train_policy_gradient

pytest.importorskip("trl")

EXPERT = "Thought: this one fits.\nAction: click[buy now]"
AGENT = "Thought: not sure.\nAction: search[xyz]"
FAST_DISC = DiscriminatorSettings(epochs=10, batch_size=4, per_device_batch_size=4, learning_rate=1e-3, max_length=48)


def state(i: int) -> list[dict[str, str]]:
    """An expert prefix: the task description, "OK", and one observation."""
    observation = f"Instruction: i need item number {i}, price lower than {10 * i} dollars\n[Search]"
    return build_messages("webshop", observation)


def toy_examples(n: int) -> list[dict]:
    return [{"prompt": state(i), "action": EXPERT, "label": 1} for i in range(n)] + [
        {"prompt": state(i), "action": AGENT, "label": 0} for i in range(n)
    ]


@pytest.fixture(scope="module")
def trained_discriminator(tiny_model, tmp_path_factory):
    out = tmp_path_factory.mktemp("discriminator")
    return train_discriminator(str(tiny_model), toy_examples(8), out, FAST_DISC, seed=0)


def test_discriminator_separates_expert_from_agent_actions(trained_discriminator):
    result = trained_discriminator
    assert result["train_accuracy"] > 0.9
    assert result["path"].name == "model" and (result["path"] / "discriminator.json").exists()
    # States it never saw: the expert's action still earns the higher reward.
    unseen = [state(i) for i in range(50, 53)]
    expert = discriminator_rewards(str(result["path"]), [(s, EXPERT) for s in unseen])
    agent = discriminator_rewards(str(result["path"]), [(s, AGENT) for s in unseen])
    assert min(expert) > 0 > max(agent)  # r = logit: positive means "looks like the expert"
    assert REWARD_CONVENTION.startswith("logit")


def test_rewards_are_deterministic_and_independent_of_the_batch(trained_discriminator):
    items = [(state(i), EXPERT if i % 2 else AGENT + " and more words") for i in range(5)]
    one_by_one = discriminator_rewards(str(trained_discriminator["path"]), items, batch_size=1)
    batched = discriminator_rewards(str(trained_discriminator["path"]), items, batch_size=5)
    assert one_by_one == pytest.approx(batched, abs=1e-5)
    assert discriminator_rewards(str(trained_discriminator["path"]), []) == []


def test_long_histories_are_cut_on_the_left_keeping_bos_and_the_action(tiny_model):
    from harness.models import load_tokenizer

    tok = load_tokenizer(str(tiny_model))
    ids = encode(tok, state(3), EXPERT, max_length=30)
    assert len(ids) == 30 < len(encode(tok, state(3), EXPERT))
    assert ids[0] == tok.bos_token_id
    assert tok.decode(ids).endswith(EXPERT + tok.eos_token + "\n")


def test_discriminator_resumes_from_its_checkpoint_after_a_kill(tiny_model, tmp_path):
    import shutil

    settings = DiscriminatorSettings(
        epochs=1, batch_size=4, per_device_batch_size=4, max_length=48, max_steps=2, save_steps=1
    )
    train_discriminator(str(tiny_model), toy_examples(4), tmp_path, settings, seed=0)
    shutil.rmtree(tmp_path / "model")  # as if killed before the final save
    settings.max_steps = 3
    result = train_discriminator(str(tiny_model), toy_examples(4), tmp_path, settings, seed=0)
    assert result["resumed_from"].endswith("checkpoint-2")
    assert len(discriminator_rewards(str(result["path"]), [(state(0), EXPERT)])) == 1


@pytest.mark.parametrize(
    ("examples", "message"),
    [
        ([], "needs examples"),
        ([{"prompt": state(0), "action": EXPERT, "label": 1}] * 3, "all 3 examples are expert .* both classes"),
        ([{"prompt": state(0), "action": EXPERT, "label": "expert"}], "use 1 for expert and 0 for agent"),
        ([{"prompt": state(0), "label": 1}], "lacks \\['action'\\]"),
    ],
)
def test_bad_discriminator_data_is_refused_with_the_fix(tiny_model, tmp_path, examples, message):
    with pytest.raises(ValueError, match=message):
        train_discriminator(str(tiny_model), examples, tmp_path, FAST_DISC, seed=0)


def e_count(prompts: list, replies: list[str]) -> list[float]:
    """A reward with signal even for an untrained model: how many letters 'e' the reply holds."""
    assert len(prompts) == len(replies)
    return [float(r.count("e")) for r in replies]


PG_STATES = [state(i)[-1:] for i in range(4)]  # short states keep the test fast


def pg_settings(**kw) -> PolicyGradientSettings:
    base = {"learning_rate": 3e-2, "batch_size": 4, "num_generations": 4, "max_new_tokens": 16,
            "max_prompt_length": 256, "kl_beta": 0.0, "entropy_coef": 0.0, "save_steps": 1000}  # fmt: skip
    return PolicyGradientSettings(**{**base, **kw})


def test_policy_gradient_raises_the_reward(tiny_model, tmp_path):
    from harness.models import load_model

    settings = pg_settings(max_steps=16)
    result = train_policy_gradient(str(tiny_model), str(tiny_model), PG_STATES, e_count, tmp_path, settings, seed=0)
    history = result["reward_history"]
    assert len(history) == 16 and history[0] == result["reward_first"]
    assert sum(history[-2:]) / 2 > 2 * history[0]
    assert load_model(str(result["path"]), device="cpu") is not None


def test_the_kl_is_measured_against_the_given_reference(tiny_model, tmp_path):
    import torch

    from harness.models import load_model, load_tokenizer

    reference = load_model(str(tiny_model), device="cpu")
    with torch.no_grad():
        reference.lm_head.weight.add_(torch.randn_like(reference.lm_head.weight))
    reference.save_pretrained(tmp_path / "reference")
    load_tokenizer(str(tiny_model)).save_pretrained(tmp_path / "reference")
    settings = pg_settings(max_steps=1, kl_beta=0.1, entropy_coef=0.01, learning_rate=1e-6)
    same = train_policy_gradient(str(tiny_model), str(tiny_model), PG_STATES, e_count, tmp_path / "a", settings, seed=0)
    other = train_policy_gradient(
        str(tiny_model), str(tmp_path / "reference"), PG_STATES, e_count, tmp_path / "b", settings, seed=0
    )
    assert same["kl_first"] == pytest.approx(0.0, abs=1e-6)  # the first step's policy is the reference itself
    assert other["kl_first"] > 0.1


def test_policy_gradient_resumes_after_a_kill(tiny_model, tmp_path):
    import shutil

    first, second = pg_settings(max_steps=2, save_steps=1), pg_settings(max_steps=3, save_steps=1)
    train_policy_gradient(str(tiny_model), str(tiny_model), PG_STATES, e_count, tmp_path, first, seed=0)
    shutil.rmtree(tmp_path / "model")  # as if killed before the final save
    result = train_policy_gradient(str(tiny_model), str(tiny_model), PG_STATES, e_count, tmp_path, second, seed=0)
    assert result["resumed_from"].endswith("checkpoint-2")
    assert len(result["reward_history"]) == 3 and (result["path"] / "model.safetensors").exists()


@pytest.mark.parametrize(
    ("states", "settings", "message"),
    [
        ([], pg_settings(), "needs states"),
        ([[*state(0), {"role": "assistant", "content": EXPERT}]], pg_settings(), "state 0 does not end with a user"),
        (PG_STATES, pg_settings(num_generations=1), "at least 2 replies per state"),
        (PG_STATES, pg_settings(max_prompt_length=3), "all 4 states exceed max_prompt_length=3"),
    ],
)
def test_bad_policy_gradient_input_is_refused_with_the_fix(tiny_model, tmp_path, states, settings, message):
    with pytest.raises(ValueError, match=message):
        train_policy_gradient(str(tiny_model), str(tiny_model), states, e_count, tmp_path, settings, seed=0)
