"""Rollouts on Ray: a stage's missing chunks played by N actors, each holding the stage's policy.

Each actor loads the policy once (an HF model on a CPU; on a cluster with GPUs, one GPU per actor,
so a vLLM engine per GPU) and keeps its environments alive across chunks
(:class:`~harness.envs.pool.EnvPool`). The driver hands out chunk indices, writes each finished chunk
atomically as it arrives, and merges by chunk index, so the data do not depend on which worker
played what nor on how many there were. A chunk whose worker dies (its process killed, the node
lost) goes back to the queue and a replacement worker is started; a chunk that fails
:data:`MAX_ATTEMPTS` times stops the stage with its task ids and the error.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from harness.execution.checkpoints import write_json_atomic, write_jsonl_atomic
from harness.execution.settings import ExecutionSettings
from harness.policies.base import Sampling
from harness.rollout import EpisodeSpec
from harness.types import Trajectory

MAX_ATTEMPTS = 3
"""Tries of one chunk (a worker death or an error each count) before the stage stops."""


class ChunkFailed(RuntimeError):
    """A chunk failed :data:`MAX_ATTEMPTS` times; the message names its task ids and the last error."""


class RolloutWorker:
    """One Ray actor's state: the stage's policy, loaded once, and a pool of environments."""

    def __init__(self, make_env: Callable[[], Any], spec: str, label: str, options: dict[str, Any]):
        from harness.envs.pool import EnvPool
        from harness.policies import make_policy

        self.policy = make_policy(spec, **options)
        self.policy.name = label
        self.envs = EnvPool(make_env)

    def play(self, specs: Sequence[EpisodeSpec], sampling: Sampling, row: Callable[[Trajectory], dict[str, Any]],
             icl_messages: Sequence[dict[str, str]] = ()) -> list[dict[str, Any]]:  # fmt: skip
        """The rows of one chunk's episodes, in spec order (``icl_messages`` in every prompt)."""
        from harness.execution.executor import play_chunk

        return [row(t) for t in play_chunk(self.envs, self.policy, specs, sampling, icl_messages)]

    def describe(self) -> dict[str, Any]:
        """This worker's process id, node and policy provenance."""
        import ray

        return {"pid": os.getpid(), "node": ray.get_runtime_context().get_node_id(),
                "policy": getattr(self.policy, "provenance", {})}  # fmt: skip


def connect(settings: ExecutionSettings) -> None:
    """Join ``settings.ray_address``, or start a local cluster sized for ``settings.workers`` (once per process)."""
    import logging

    try:
        import ray
    except ImportError:
        raise ImportError("execution.workers > 1 and execution.ray_address need Ray: pip install -e '.[ray]'") from None
    if ray.is_initialized():
        return
    common = {"logging_level": logging.WARNING, "log_to_driver": False, "configure_logging": True}
    if settings.ray_address:
        try:
            ray.init(address=settings.ray_address, **common)
        except (ConnectionError, RuntimeError) as e:
            if not _about_authentication(e):
                raise
            # Ray turns token authentication on for `ray start` when a token exists, but never for a
            # driver that names an address: the user has to say so
            raise ConnectionError(
                f"the Ray cluster at {settings.ray_address} asks for its authentication token: copy the head "
                "node's ~/.ray/auth_token here (or set RAY_AUTH_TOKEN) and set RAY_AUTH_MODE=token"
            ) from None
    else:
        # one CPU slot per worker even when there are more workers than cores (a benchmark's choice);
        # "local": a cluster of our own, never one that `ray start` left on this machine (Ray joins that
        # by default, found through /tmp/ray/ray_current_cluster, even once it is gone)
        ray.init(address="local", num_cpus=max(settings.workers, os.cpu_count() or 1), include_dashboard=False, **common)


def _about_authentication(error: BaseException | None) -> bool:
    """Whether ``error`` or an exception it was raised from is Ray's token authentication failing."""
    while error is not None:
        if "authenticat" in f"{type(error).__name__} {error}".lower():
            return True
        error = error.__cause__ or error.__context__
    return False


def play_on_ray(
    settings: ExecutionSettings, folder: Path, missing: Sequence[tuple[int, Sequence[EpisodeSpec]]],
    make_env: Callable[[], Any], spec: str, label: str, options: dict[str, Any], sampling: Sampling,
    row: Callable[[Trajectory], dict[str, Any]], log: Callable[[str], None] = print,
    icl_messages: Sequence[dict[str, str]] = (),
) -> None:  # fmt: skip
    """Play the ``missing`` chunks ``(index, specs)`` on ``settings.workers`` actors and write each as
    ``folder/chunk-NNNNN.jsonl`` when it arrives; ``folder/policy.json`` gets the policy's provenance.
    ``icl_messages``: in-context example turns in every episode's prompt, as played in-process."""
    import ray

    connect(settings)
    gpus = 1 if ray.cluster_resources().get("GPU", 0) >= 1 else 0  # one engine / model per GPU
    actor = ray.remote(num_cpus=1, num_gpus=gpus, max_restarts=0)(RolloutWorker)
    sampling_ref, row_ref, icl_ref = ray.put(sampling), ray.put(row), ray.put(list(icl_messages))
    n = min(settings.workers, len(missing))
    workers = [actor.remote(make_env, spec, label, options) for _ in range(n)]
    log(f"  [ray] {len(missing)} chunks on {n} workers ({'1 GPU' if gpus else '1 CPU'} each)")
    queue = deque(missing)
    attempts: dict[int, int] = {}
    running: dict[Any, tuple[int, Sequence[EpisodeSpec], Any]] = {}
    idle = list(workers)
    described, failure = False, None
    try:
        while running or (queue and failure is None):
            while queue and idle and failure is None:
                k, part = queue.popleft()
                w = idle.pop()
                running[w.play.remote(part, sampling_ref, row_ref, icl_ref)] = (k, part, w)
            (ref,), _ = ray.wait(list(running), num_returns=1)
            k, part, w = running.pop(ref)
            try:
                rows = ray.get(ref)
            except ray.exceptions.RayError as e:
                error = worker_failure(e)
                failure = failure or _retry(k, part, attempts, error, queue, log)
                if not isinstance(e, ray.exceptions.RayTaskError):  # the worker is gone: replace it
                    ray.kill(w, no_restart=True)
                    workers.remove(w)
                    w = actor.remote(make_env, spec, label, options)
                    workers.append(w)
            else:
                write_jsonl_atomic(folder / f"chunk-{k:05d}.jsonl", rows)
                if not described:
                    write_json_atomic(folder / "policy.json", ray.get(w.describe.remote())["policy"])
                    described = True
            idle.append(w)
    finally:
        for w in workers:  # the stage's policy is done: free its memory (GPU included) for the next job
            ray.kill(w, no_restart=True)
    if failure is not None:  # raised once the chunks in flight have landed: nothing played is lost
        raise failure


def worker_failure(error: Exception) -> str:
    """What went wrong with a chunk, in words: the episode code's own error (a ``RayTaskError``), or
    how its worker was lost (killed, out of memory, its node gone), which a retry on a new worker
    can get past."""
    import ray

    if isinstance(error, ray.exceptions.RayTaskError):
        return str(error.cause if error.cause is not None else error)
    if isinstance(error, ray.exceptions.OutOfMemoryError):
        return ("its worker was killed by Ray's memory monitor: the machine ran out of memory "
                "(fewer execution.workers, or fewer other jobs beside this one)")  # fmt: skip
    return f"its worker died ({type(error).__name__})"


def _retry(k: int, part: Sequence[EpisodeSpec], attempts: dict[int, int], error: str,
           queue: deque, log: Callable[[str], None]) -> ChunkFailed | None:  # fmt: skip
    """Put chunk ``k`` back at the head of the queue, or return the failure that stops the stage."""
    attempts[k] = attempts.get(k, 0) + 1
    if attempts[k] >= MAX_ATTEMPTS:
        tasks = sorted({s.task_id for s in part})
        shown = ", ".join(tasks[:10]) + (f" and {len(tasks) - 10} more" if len(tasks) > 10 else "")
        return ChunkFailed(f"chunk {k} (task ids {shown}) failed {attempts[k]} times; last error: {error}")
    log(f"  [ray] chunk {k} failed ({error}); retrying it (attempt {attempts[k] + 1} of {MAX_ATTEMPTS})")
    queue.appendleft((k, part))
    return None
