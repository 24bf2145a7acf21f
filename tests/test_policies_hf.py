"""The transformers backend: the model-backend contract (policy_contract.py) and its spec."""

from __future__ import annotations

import pytest

from harness.policies import make_policy
from policy_contract import *  # noqa: F403 (the shared contract tests run against this backend)


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
