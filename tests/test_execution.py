"""The execution seam: rollouts of episode specs in checkpointed chunks, backends by name, and
training jobs that give the same model on one process and on two (accelerate launch, DDP over gloo),
resuming from their checkpoint after a kill -9 of the process that launched them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.execution.executor import Executor
from harness.execution.jobs import TrainingJob, run_job
from harness.execution.launch import launch_job
from harness.execution.settings import ExecutionSettings
from harness.policies import Sampling
from harness.rollout import EpisodeSpec, play_specs


@pytest.fixture(scope="module")
def env_factory(small_catalog):
    from harness.envs import make_env

    return lambda: make_env("webshop", data=str(small_catalog), nouns="heuristic")


@pytest.fixture(scope="module")
def experts(env_factory):
    from harness.policies.scripted import ExpertPolicy
    from harness.rollout import run_episodes

    ids = env_factory().task_ids("test")[:12]
    return run_episodes(env_factory, ids, ExpertPolicy(), seed=0)


def test_rollouts_are_the_specs_played_in_order_and_resume_from_their_chunks(tmp_path, env_factory, experts, tiny_model,
                                                                               tiny_hf, monkeypatch):  # fmt: skip
    specs = [EpisodeSpec(t.task_id, seed=k, prefix=tuple(s.text for s in t.steps[:j]), max_steps=j + 2)
             for t in experts[:4] for j in range(2) for k in range(2)]  # fmt: skip
    sampling = Sampling(temperature=1.0, max_new_tokens=8)
    executor = Executor(ExecutionSettings(), env_factory, label_root=tiny_model.parent)
    rows = executor.rollouts(tmp_path / "chunks", specs, str(tiny_model), sampling, chunk_size=5)
    direct = [t.to_dict() for t in play_specs(env_factory, specs, tiny_hf, sampling)]
    assert [r["steps"] for r in rows] == [r["steps"] for r in direct]  # per-episode seeds: batching changes nothing
    assert [r["prefix_steps"] for r in rows] == [len(s.prefix) for s in specs]
    assert all(len(r["steps"]) <= s.max_steps for r, s in zip(rows, specs))
    assert rows[0]["policy"] == f"hf:{tiny_model.name}"  # named inside the label root, by backend
    assert len(list((tmp_path / "chunks").glob("chunk-*.jsonl"))) == 4  # 16 specs in chunks of 5

    # A killed stage resumes: the missing chunk is played again, to the same rows.
    (tmp_path / "chunks" / "chunk-00002.jsonl").unlink()
    assert executor.rollouts(tmp_path / "chunks", specs, str(tiny_model), sampling, chunk_size=5) == rows

    # A finished stage does not even load the model.
    import harness.policies

    monkeypatch.setattr(harness.policies, "make_policy", lambda *a, **k: pytest.fail("model loaded"))
    assert executor.rollouts(tmp_path / "chunks", specs, str(tiny_model), sampling, chunk_size=5) == rows


def test_backends_are_named_and_checked_before_any_stage(monkeypatch):
    from harness.recipes import RecipeError, load_recipe

    with pytest.raises(RecipeError, match="unknown backend 'vlm'.*Did you mean: vllm"):
        load_recipe("ipr-webshop", overrides=["execution.backend=vlm"])
    with pytest.raises(RecipeError, match="train_processes' must be at least 1"):
        load_recipe("ipr-webshop", overrides=["execution.train_processes=0"])
    with pytest.raises(RecipeError, match="no file 'zero3'.*deepspeed_zero3"):
        load_recipe("ipr-webshop", overrides=["execution.train_processes=2", "execution.accelerate_config=zero3"])
    with pytest.raises(RecipeError, match="set the step budget once, as 'env.max_steps'"):
        load_recipe("ipr-webshop", overrides=['env.kwargs={"max_steps": 5}'])

    import harness.policies.vllm as vllm_backend

    monkeypatch.setattr(vllm_backend, "vllm_available", lambda: False)
    executor = Executor(ExecutionSettings(backend="vllm"), lambda: None)
    with pytest.raises(ValueError, match="execution.backend 'vllm' cannot run here: vLLM is not installed"):
        executor.check()
    Executor(ExecutionSettings(), lambda: None).check()  # transformers is always there


def test_workers_need_ray_and_do_not_change_the_run(monkeypatch):
    import importlib.util

    from harness.recipes import RecipeError, load_recipe

    with pytest.raises(RecipeError, match="'execution.workers' must be at least 1"):
        load_recipe("ipr-webshop", overrides=["execution.workers=0"])
    # how many workers play the same chunks is not part of the run's identity: a run resumes on more
    one, eight = load_recipe("ipr-webshop"), load_recipe("ipr-webshop", overrides=["execution.workers=8",
                                                                                   "execution.ray_address=auto"])  # fmt: skip
    assert one.config_hash == eight.config_hash
    assert eight.execution.provenance()["workers"] == 8

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "ray" else real(name, *a))
    with pytest.raises(ValueError, match=r"execution.workers = 2 needs Ray.*pip install -e '.\[ray\]'"):
        Executor(ExecutionSettings(workers=2), lambda: None).check()
    Executor(ExecutionSettings(workers=1), lambda: None).check()  # one worker plays here, without Ray


def test_paper_preset_runs_on_vllm_and_eight_fsdp_processes():
    from harness.execution.settings import accelerate_config_path
    from harness.recipes import load_recipe

    recipe = load_recipe("ipr-webshop", "paper")
    e = recipe.execution
    assert (e.backend, e.train_processes, e.gradient_checkpointing, e.workers) == ("vllm", 8, True, 8)
    assert accelerate_config_path(e.accelerate_config).name == "fsdp.yaml"
    # The script's global batches split over 8 processes without a remainder.
    from harness.training.trainer_io import batch_split

    assert batch_split(recipe.sft.batch_size, recipe.sft.per_device_batch_size, "sft", processes=8) == (2, 3)
    assert batch_split(recipe.train.batch_size, recipe.train.per_device_batch_size, "train", processes=8) == (2, 3)


def test_a_batch_that_does_not_split_over_the_processes_is_refused_before_launching(tmp_path):
    from harness.training.sft import SFTSettings

    executor = Executor(ExecutionSettings(train_processes=3), lambda: None)
    job = TrainingJob("sft", "unused", str(tmp_path), SFTSettings(batch_size=16, per_device_batch_size=4), seed=0)
    with pytest.raises(ValueError, match=r"sft.batch_size=16 cannot be split over 3 process"):
        executor.train(job, [{"messages": []}])
    assert not (tmp_path / "job.json").exists()


def _sft_job(model: Path, out: Path, experts, save_steps: int = 100) -> tuple[TrainingJob, list[dict]]:
    from harness.prompting import build_messages
    from harness.training.sft import SFTSettings

    settings = SFTSettings(epochs=2, batch_size=4, per_device_batch_size=4, learning_rate=3e-3, max_length=1024,
                           warmup_ratio=0.0, seed=0, save_steps=save_steps)  # fmt: skip
    rows = [{"messages": build_messages(t.env_id, t.initial_observation, t.steps)[:-1]} for t in experts]
    return TrainingJob("sft", str(model), str(out), settings, seed=0), rows


def _weights(folder: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(folder / "model.safetensors"))


def _ddp_settings() -> ExecutionSettings:
    return ExecutionSettings(train_processes=2)


@pytest.mark.slow
def test_two_process_job_matches_one_process_and_resumes_after_kill_9_of_its_driver(tmp_path, tiny_model, experts):
    # One process, in-process: the reference. 12 conversations, batch 4, 2 epochs = 6 optimizer steps.
    job, rows = _sft_job(tiny_model, tmp_path / "one", experts)
    job.write(rows)
    one = run_job(job)
    assert one["resumed_from"] is None

    # Two processes (per-device batch 2, the same global batch 4), checkpointing every step. Its driver
    # is killed -9 once the first checkpoint is on disk; the job's processes die with it.
    job2, _ = _sft_job(tiny_model, tmp_path / "two", experts, save_steps=1)
    job_file = job2.write(rows)
    driver = subprocess.Popen(
        [sys.executable, "-c", "import sys; from pathlib import Path; from harness.execution.launch import launch_job;"
         "from harness.execution.settings import ExecutionSettings;"
         "launch_job(Path(sys.argv[1]), ExecutionSettings(train_processes=2), print)", str(job_file)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    ckpts = tmp_path / "two" / "checkpoints"
    deadline = time.time() + 300
    while not list(ckpts.glob("checkpoint-*/trainer_state.json")) and time.time() < deadline and driver.poll() is None:
        time.sleep(0.2)
    assert driver.poll() is None, "the job finished before it could be killed"
    os.kill(driver.pid, signal.SIGKILL)
    driver.wait()
    time.sleep(3)
    leftover = subprocess.run(["pgrep", "-f", str(job_file)], capture_output=True, text=True).stdout.split()
    assert leftover == [], "training processes outlived their driver"
    assert not (tmp_path / "two" / "model").exists()

    # The same job again resumes from the newest checkpoint and ends where one process ended.
    two = launch_job(job_file, _ddp_settings(), print)
    assert two["resumed_from"] and "checkpoint-" in two["resumed_from"]
    a, b = _weights(Path(one["path"])), _weights(Path(two["path"]))
    assert a.keys() == b.keys()
    start = _weights(tiny_model)
    moved = max(float((a[k] - start[k]).abs().max()) for k in a)
    diff = max(float((a[k] - b[k]).abs().max()) for k in a)
    assert moved > 1e-3 and diff < 1e-3 * max(1.0, moved), (moved, diff)
    losses = lambda p: [e["loss"] for e in json.loads((Path(p).parent / "log_history.json").read_text()) if "loss" in e]  # noqa: E731
    la, lb = losses(one["path"]), losses(two["path"])
    assert la and len(la) == len(lb) and all(abs(x - y) <= 1e-3 * max(1.0, abs(x)) for x, y in zip(la, lb)), (la, lb)


def test_lora_jobs_train_adapters_and_save_a_plain_merged_model(tmp_path, tiny_model, experts):
    from harness.training.lora import LoRASettings
    from harness.training.preference import PreferenceSettings

    job, rows = _sft_job(tiny_model, tmp_path / "sft", experts[:4])
    job.settings["lora"] = {"r": 4, "alpha": 8, "dropout": 0.0, "target_modules": "q_proj,v_proj"}
    job.settings["epochs"] = 1
    job.write(rows)
    sft = Path(run_job(job)["path"])
    assert not (sft / "adapter_config.json").exists()  # merged: a plain model folder for vLLM and the next stage
    start, merged = _weights(tiny_model), _weights(sft)
    assert merged.keys() == start.keys()
    changed = {k for k in start if float((merged[k] - start[k]).abs().max()) > 0}
    assert changed and all("q_proj" in k or "v_proj" in k for k in changed), changed  # only adapted weights moved

    # The preference update with LoRA: the policy gets adapters, the reference stays the full model.
    pair = {"prompt": [{"role": "user", "content": "Observation:\nWebShop [SEP] find a red mug [SEP] Search"}],
            "chosen": [{"role": "assistant", "content": "Thought: search.\nAction: search[red mug]"}],
            "rejected": [{"role": "assistant", "content": "Thought: buy.\nAction: click[buy now]"}]}  # fmt: skip
    settings = PreferenceSettings(batch_size=2, per_device_batch_size=2, epochs=2, learning_rate=1e-3, max_length=512,
                                  scheduler="constant", warmup_ratio=0.0,
                                  lora=LoRASettings(r=4, dropout=0.0))  # fmt: skip
    pjob = TrainingJob("preference", str(sft), str(tmp_path / "dpo"), settings, seed=0, reference=str(sft))
    pjob.write([pair, pair])
    out = run_job(pjob)
    assert out["pairs_used"] == 2 and not (Path(out["path"]) / "adapter_config.json").exists()
    after = _weights(Path(out["path"]))
    assert any(float((after[k] - merged[k]).abs().max()) > 0 for k in merged)


def test_group_by_length_order_is_the_one_process_order_on_every_process():
    """N processes must draw the one-process example order: megabatches sized by the global batch."""
    from types import SimpleNamespace

    import torch
    from transformers.trainer_pt_utils import LengthGroupedSampler

    from harness.training.trainer_io import with_global_batch_grouping

    lengths = [(7 * i) % 113 + 1 for i in range(500)]

    class Base:
        def __init__(self, args):
            self.args = args

        def _get_train_sampler(self, train_dataset=None):
            return LengthGroupedSampler(self.args.train_batch_size * self.args.gradient_accumulation_steps, lengths=lengths)

    def order(cls, per_device, accumulation, world):
        torch.manual_seed(0)
        args = SimpleNamespace(train_batch_size=per_device, gradient_accumulation_steps=accumulation, world_size=world)
        return list(cls(args)._get_train_sampler())

    grouped = with_global_batch_grouping(Base)
    one = order(grouped, 16, 1, 1)
    assert one == order(Base, 16, 1, 1)  # one process: transformers' own order, unchanged
    assert order(grouped, 8, 1, 2) == one and order(grouped, 2, 2, 4) == one  # the same global batch of 16
    assert order(Base, 8, 1, 2) != one  # what transformers alone would do on 2 processes


def test_vllm_on_a_cpu_runs_in_process_on_every_core_unless_the_user_said_otherwise(monkeypatch):
    import os

    from harness.policies.vllm import cpu_engine_in_process

    monkeypatch.delenv("VLLM_ENABLE_V1_MULTIPROCESSING", raising=False)
    monkeypatch.delenv("VLLM_CPU_OMP_THREADS_BIND", raising=False)
    cpu_engine_in_process()
    assert os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] == "0"
    assert os.environ["VLLM_CPU_OMP_THREADS_BIND"] == ",".join(map(str, sorted(os.sched_getaffinity(0))))
    monkeypatch.setenv("VLLM_ENABLE_V1_MULTIPROCESSING", "1")
    monkeypatch.setenv("VLLM_CPU_OMP_THREADS_BIND", "nobind")
    cpu_engine_in_process()
    assert (os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"], os.environ["VLLM_CPU_OMP_THREADS_BIND"]) == ("1", "nobind")
