"""Prompt encoding for the model backends: incremental tokenization equals tokenizing everything."""

from __future__ import annotations

from harness.envs import make_env
from harness.models import load_tokenizer
from harness.policies import ContextOverflow, make_policy
from harness.policies.encoding import encode_prompts
from harness.rollout import run_episodes


class CountingTokenizer:
    """Our tokenizer, counting the characters it is asked to tokenize."""

    def __init__(self, inner):
        self.inner, self.chars = inner, 0

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def __call__(self, texts, **kwargs):
        self.chars += sum(len(t) for t in texts)
        return self.inner(texts, **kwargs)


def test_each_step_tokenizes_only_the_new_turns_and_matches_full_tokenization(tiny_model):
    tok = CountingTokenizer(load_tokenizer(str(tiny_model)))
    checks, ratios = [], []

    class Spy:
        name = "spy"
        expert = make_policy("expert")

        def act(self, episodes, sampling):
            before = tok.chars
            encoded = encode_prompts(tok, episodes, 4096, 10)
            full = [
                tok.inner.apply_chat_template(v.messages, add_generation_prompt=True)["input_ids"] for v in episodes
            ]
            checks.append([e.ids for e in encoded] == full)
            ratios.append((tok.chars - before) / sum(len(tok.inner.decode(f)) for f in full))
            return self.expert.act(episodes, sampling)

    run_episodes(lambda: make_env("webshop"), make_env("webshop").task_ids("test")[:8], Spy())
    assert all(checks) and len(checks) >= 4
    assert ratios[0] > 0.9 and max(ratios[2:]) < 0.7  # later steps tokenize only the new turns


def test_a_prompt_at_the_context_limit_overflows(tiny_model):
    tok = load_tokenizer(str(tiny_model))

    class Peek:
        name = "peek"
        seen = []

        def act(self, episodes, sampling):
            self.seen.append(encode_prompts(tok, episodes, 120, 10))
            return ["Action: search[x]"] * len(episodes)

    run_episodes(lambda: make_env("webshop"), make_env("webshop").task_ids("test")[:1], Peek(), max_steps=1)
    assert isinstance(Peek.seen[0][0], ContextOverflow) and "context is 120" in Peek.seen[0][0]
