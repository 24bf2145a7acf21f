"""The transformers backend: batched replies that do not depend on the batch, seeds, context limits."""

from __future__ import annotations

import pytest

from harness.envs import make_env
from harness.policies import ContextOverflow, EpisodeView, Sampling, make_policy
from harness.prompting import build_messages

SHORT = Sampling(max_new_tokens=12)
SAMPLED = Sampling(temperature=1.0, max_new_tokens=12)


def views(n: int, seed: int = 0, step_index: int = 0) -> list[EpisodeView]:
    """The first observation of the first ``n`` WebShop test tasks."""
    env = make_env("webshop")
    out = []
    for tid in env.task_ids("test")[:n]:
        obs = env.reset(tid)
        out.append(EpisodeView(env.task(tid), build_messages("webshop", obs), None, step_index, seed))
    return out


def test_spec_builds_the_transformers_backend(tiny_model):
    policy = make_policy(f"hf:{tiny_model}", device="cpu")
    assert policy.name == f"hf:{tiny_model}" and policy.context == 4096


@pytest.mark.parametrize(
    ("spec", "message"),
    [("hf:", "names no model"), ("openai:http://127.0.0.1:1/v1", "openai:URL#MODEL"), ("gpt4", "unknown policy")],
)
def test_bad_specs_say_what_to_write(spec, message):
    with pytest.raises((ValueError, KeyError), match=message):
        make_policy(spec)


def test_greedy_replies_do_not_depend_on_the_batch(tiny_hf):
    batch = views(5)
    together = tiny_hf.act(batch, SHORT)
    alone = [tiny_hf.act([v], SHORT)[0] for v in batch]
    assert together == alone


def test_sampled_replies_depend_only_on_seed_task_and_step(tiny_hf):
    batch = views(5, seed=1)
    together = tiny_hf.act(batch, SAMPLED)
    assert together == tiny_hf.act(batch, SAMPLED)  # reproducible
    assert tiny_hf.act(batch[3:4], SAMPLED)[0] == together[3]  # alone == in a batch
    assert tiny_hf.act(list(reversed(batch)), SAMPLED) == list(reversed(together))  # order-free
    assert len(set(together)) == 5  # different tasks draw differently
    assert tiny_hf.act(views(5, seed=2), SAMPLED) != together  # another seed, other samples
    assert tiny_hf.act(views(5, seed=1, step_index=1), SAMPLED) != together  # another step, too


def test_a_vanishing_nucleus_samples_the_greedy_reply(tiny_hf):
    batch = views(3, seed=4)
    assert tiny_hf.act(batch, Sampling(temperature=1.0, top_p=1e-6, max_new_tokens=12)) == tiny_hf.act(batch, SHORT)


def test_generate_tokens_respects_each_rows_budget(tiny_hf):
    from harness.policies.encoding import Prompt

    ids = tiny_hf.tokenizer.apply_chat_template(views(1)[0].messages, add_generation_prompt=True)["input_ids"]
    replies = tiny_hf.generate_tokens([Prompt(ids, 3), Prompt(ids, 9)], [0, 0], SHORT)
    assert len(replies[0]) <= 3 and len(replies[1]) <= 9
    assert replies[0] == replies[1][: len(replies[0])]  # the same greedy reply, cut at its budget


def test_a_prompt_longer_than_the_context_overflows(tiny_model):
    from harness.policies.hf import HFPolicy

    batch = views(2)
    batch[1].messages.append({"role": "assistant", "content": "Thought: x\nAction: search[y]"})
    batch[1].messages.append({"role": "user", "content": "Observation:\n" + "long page " * 400})
    policy = HFPolicy(str(tiny_model), device="cpu", context=600)
    short, long = policy.act(batch, SHORT)
    assert not isinstance(short, ContextOverflow)
    assert isinstance(long, ContextOverflow) and "context is 600" in long
    assert policy.stats.overflows == 1 and policy.stats.prompts == 1


def test_stats_count_prompt_and_generated_tokens(tiny_model):
    from harness.policies.hf import HFPolicy

    policy = HFPolicy(str(tiny_model), device="cpu")
    policy.act(views(3), Sampling(max_new_tokens=5))
    s = policy.stats
    assert (s.act_calls, s.generate_calls, s.prompts) == (1, 1, 3)
    assert 3 <= s.generated_tokens <= 15 and s.prompt_tokens > 3 * 100
