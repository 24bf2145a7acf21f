"""The transformers backend: the model-backend contract (policy_contract.py) and its spec."""

from __future__ import annotations

import pytest
from policy_contract import *  # noqa: F403 (the shared contract tests run against this backend)

from harness.policies import make_policy


@pytest.fixture(scope="module")
def policy(tiny_hf):
    return tiny_hf


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


def test_kv_cache_strategies_give_the_same_replies(tiny_model):
    from harness.envs import make_env
    from harness.policies import Sampling
    from harness.policies.hf import HFPolicy
    from harness.rollout import run_episodes

    tasks = make_env("webshop").task_ids("test")[:5]
    expert = run_episodes(lambda: make_env("webshop"), tasks, make_policy("expert"))
    prefixes = [[s.text for s in t.steps[:k]] for k, t in zip([0, 1, 2, 1, 0], expert, strict=True)]  # ragged lengths
    replies, reused = {}, {}
    variants = [("dynamic", None, False), ("static", None, False), ("growing", None, False), ("growing", 300, True)]
    for kv_cache, prefill_tokens, reuse in variants:
        policy = HFPolicy(
            str(tiny_model), device="cpu", kv_cache=kv_cache, prefill_tokens=prefill_tokens, reuse_prefix=reuse
        )
        trajs = run_episodes(
            lambda: make_env("webshop"), tasks, policy, Sampling(max_new_tokens=10), prefixes=prefixes, max_steps=4
        )
        replies[kv_cache, prefill_tokens] = [[s.text for s in t.steps] for t in trajs]
        reused[kv_cache, prefill_tokens] = policy.prefixes.reused_tokens if policy.prefixes else 0
    assert reused["growing", 300] > 1000  # later steps started from the previous step's keys/values
    assert all(r == replies[("dynamic", None)] for r in replies.values())


def test_a_batch_too_big_for_the_kv_budget_is_split_without_changing_replies(tiny_model, tiny_hf):
    from policy_contract import SHORT, views

    from harness.policies.hf import HFPolicy

    small = HFPolicy(str(tiny_model), device="cpu", kv_cache_gib=200 * 2048 / 2**30)  # ~200 tokens of KV: one row each
    batch = views(4)
    assert small.act(batch, SHORT) == tiny_hf.act(batch, SHORT)
    assert small.stats.generate_calls == 4 and small.stats.act_calls == 1


def test_prefix_store_frees_buffers_that_only_finished_episodes_keep():
    """Entries are views into a whole batch buffer: the budget counts buffers, so finished episodes'
    entries cannot keep one buffer per batch alive (memory grew chunk after chunk before)."""
    import gc
    import weakref
    from types import SimpleNamespace

    import torch

    from harness.policies.hf_prefix import PrefixStore

    rows, capacity = 8, 50  # one buffer = 400 tokens of cache
    store = PrefixStore(max_tokens=1000)
    alive = []
    for call in range(20):  # 20 batches of episodes that each end after one step: nothing is superseded
        kbuf = torch.zeros(rows, 1, capacity, 2)
        cache = SimpleNamespace(layers=[SimpleNamespace(kbuf=kbuf, vbuf=kbuf.clone())])
        store.save(cache, 20, [([call, i, *range(30)], [1, 2]) for i in range(rows)])
        alive.append(weakref.ref(kbuf))
        del kbuf, cache
        assert store.tokens <= 1000
    gc.collect()
    assert sum(ref() is not None for ref in alive) <= 2  # 2 buffers fit the budget; the others were freed
    assert store.lookup([19, 3, *range(30), 1, 2, 9]) is not None  # the newest batch is still reusable
    assert store.lookup([0, 3, *range(30), 1, 2, 9]) is None  # the oldest is gone
