"""The contract every model backend meets; test_policies_hf.py and test_policies_vllm.py run it.

Each test takes a ``policy`` fixture (a model policy on the offline tiny model).
"""

from __future__ import annotations

from harness.envs import make_env
from harness.policies import ContextOverflow, EpisodeView, Sampling
from harness.policies.encoding import Prompt
from harness.prompting import build_messages
from harness.rollout import run_episodes

SHORT = Sampling(max_new_tokens=12)
SAMPLED = Sampling(temperature=1.0, max_new_tokens=12)


def webshop():
    return make_env("webshop")


def views(n: int, seed: int = 0, step_index: int = 0) -> list[EpisodeView]:
    """The first observation of the first ``n`` WebShop test tasks."""
    env = webshop()
    out = []
    for tid in env.task_ids("test")[:n]:
        obs = env.reset(tid)
        out.append(EpisodeView(env.task(tid), build_messages("webshop", obs), None, step_index, seed))
    return out


def test_greedy_replies_do_not_depend_on_the_batch(policy):
    batch = views(5)
    together = policy.act(batch, SHORT)
    alone = [policy.act([v], SHORT)[0] for v in batch]
    assert together == alone


def test_sampled_replies_depend_only_on_seed_task_and_step(policy):
    batch = views(5, seed=1)
    together = policy.act(batch, SAMPLED)
    assert together == policy.act(batch, SAMPLED)  # reproducible
    assert policy.act(batch[3:4], SAMPLED)[0] == together[3]  # alone == in a batch
    assert policy.act(list(reversed(batch)), SAMPLED) == list(reversed(together))  # order-free
    assert len(set(together)) == 5  # different tasks draw differently
    assert policy.act(views(5, seed=2), SAMPLED) != together  # another seed, other samples
    assert policy.act(views(5, seed=1, step_index=1), SAMPLED) != together  # another step, too


def test_a_vanishing_nucleus_samples_the_greedy_reply(policy):
    batch = views(3, seed=4)
    assert policy.act(batch, Sampling(temperature=1.0, top_p=1e-6, max_new_tokens=12)) == policy.act(batch, SHORT)


def test_each_row_stops_at_its_own_token_budget(policy):
    ids = policy.tokenizer.apply_chat_template(views(1)[0].messages, add_generation_prompt=True)["input_ids"]
    short, long = policy.generate_tokens([Prompt(ids, 3), Prompt(ids, 9)], [0, 0], SHORT)
    assert len(short) <= 3 and len(long) <= 9
    assert short == long[: len(short)]  # the same greedy reply, cut at its budget


def test_a_prompt_longer_than_the_context_overflows(policy, monkeypatch):
    batch = views(2)
    batch[1].messages.append({"role": "assistant", "content": "Thought: x\nAction: search[y]"})
    batch[1].messages.append({"role": "user", "content": "Observation:\n" + "long page " * 400})
    monkeypatch.setattr(policy, "context", 600)
    before = (policy.stats.overflows, policy.stats.prompts)
    short, long = policy.act(batch, SHORT)
    assert not isinstance(short, ContextOverflow)
    assert isinstance(long, ContextOverflow) and "context is 600" in long
    assert (policy.stats.overflows, policy.stats.prompts) == (before[0] + 1, before[1] + 1)


def test_stats_count_prompt_and_generated_tokens(policy):
    s = policy.stats
    before = (s.act_calls, s.prompts, s.generated_tokens, s.prompt_tokens)
    policy.act(views(3), Sampling(max_new_tokens=5))
    assert (s.act_calls - before[0], s.prompts - before[1]) == (1, 3)
    assert 3 <= s.generated_tokens - before[2] <= 15 and s.prompt_tokens - before[3] > 3 * 100


def test_sampled_episodes_rerun_alone_to_the_same_trajectory(policy):
    tasks = webshop().task_ids("test")[:4]
    sampling = Sampling(temperature=1.0, max_new_tokens=8)
    batch = run_episodes(webshop, tasks, policy, sampling, seeds=[5, 6, 7, 8], max_steps=3)
    alone = run_episodes(webshop, [tasks[2]], policy, sampling, seed=7, max_steps=3)[0]
    assert alone == batch[2]


def test_provenance_names_the_weights(policy):
    prov = policy.provenance
    assert prov["backend"] in ("transformers", "vllm") and prov["context"] == policy.context
    assert list(prov["weights_sha256"]) == ["model.safetensors"] and prov["harness_model"]["preset"]["name"] == "tiny"
    assert prov["dtype"] == "float32"
