"""`harness reproduce ipr-webshop` in miniature, killed with SIGKILL inside its long stages (copy
pretraining, SFT, exploration, Monte-Carlo estimation, the preference update) and re-run after each
kill: it ends with the same data and numbers as an uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from miniature import mini_args, mini_catalog  # noqa: F401 (fixture)

from harness.execution.checkpoints import read_jsonl

pytestmark = pytest.mark.slow

# (what appears on disk once a stage has done part of its work, the stage whose manifest it precedes)
KILL_POINTS = (
    ("_shared/model-*/copy_pretraining.pt", "_shared/model-*/manifest.json"),
    ("_shared/sft-*/checkpoints/checkpoint-*/trainer_state.json", "_shared/sft-*/manifest.json"),
    ("ipr-webshop/*/iter1/explore/chunks/*", "ipr-webshop/*/iter1/explore/manifest.json"),
    ("ipr-webshop/*/iter1/estimate/chunks/*", "ipr-webshop/*/iter1/estimate/manifest.json"),
    ("ipr-webshop/*/iter1/train/checkpoints/checkpoint-*/trainer_state.json", "ipr-webshop/*/iter1/train/manifest.json"),
)
# long enough stages, checkpoints at every step, chunks of one task
EXTRA = {"model.copy_pretraining.steps": 60, "sft.epochs": 3, "sft.batch_size": 4, "sft.per_device_batch_size": 4,
         "train.epochs": 3, "train.batch_size": 2, "train.per_device_batch_size": 2,
         "execution.checkpoint_every_s": 0.001}  # fmt: skip


def _command(catalog: Path, runs: Path) -> list[str]:
    return [sys.executable, "-m", "harness.cli", *mini_args(catalog, runs, extra=EXTRA)]


def _env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "HARNESS_REGISTRY": str(tmp_path / "registry"), "OMP_NUM_THREADS": "1"}


def _kill_when(command: list[str], env: dict[str, str], runs: Path, pattern: str, done: str) -> bool:
    """Run ``command`` until ``pattern`` exists under ``runs``, then SIGKILL it; return whether the
    stage was still running (its manifest absent) at the kill."""
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 600
    try:
        while not list(runs.glob(pattern)):
            assert proc.poll() is None, f"the run ended before {pattern} appeared"
            assert time.monotonic() < deadline, f"{pattern} did not appear"
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        inside = not list(runs.glob(done))
    finally:
        proc.kill()
        proc.wait()
    return inside


def _outputs(runs: Path) -> dict[str, object]:
    """Every data file and number a run produces (not timings or paths)."""
    out: dict[str, object] = {}
    for path in sorted(runs.rglob("*.jsonl")):
        rel = path.relative_to(runs).as_posix()
        if "/chunks/" in rel or "job_rows" in rel or "/registry/" in rel:
            continue
        out[rel.split("/", 2)[-1] if rel.startswith("ipr-webshop/") else rel.split("-", 1)[0]] = read_jsonl(path)
    for path in sorted(runs.rglob("results.json")):
        r = json.loads(path.read_text())
        out[path.parent.name] = (r["metrics"], r["per_task"])
    return out


def test_kill_9_inside_long_stages_loses_nothing(tmp_path, mini_catalog):
    env = _env(tmp_path)
    a, b = tmp_path / "a", tmp_path / "b"
    subprocess.run(_command(mini_catalog, a), env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    inside = [_kill_when(_command(mini_catalog, b), env, b, pattern, done) for pattern, done in KILL_POINTS]
    print("kills inside their stage:", inside)
    assert sum(inside) >= 3, f"most kills should land inside their stage: {inside}"
    subprocess.run(_command(mini_catalog, b), env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    (model_manifest,) = (b / "_shared").glob("model-*/model/harness_model.json")
    if inside[0]:
        assert json.loads(model_manifest.read_text())["copy_pretraining"]["resumed_at_step"], "copy pretraining restarted"
    for i, stage in ((1, "_shared/sft-*/manifest.json"), (4, "ipr-webshop/*/iter1/train/manifest.json")):
        (manifest,) = b.glob(stage)
        if inside[i]:  # killed after a complete checkpoint: the re-run goes on from it
            assert json.loads(manifest.read_text())["resumed_from"], f"{stage} started over"
    want, got = _outputs(a), _outputs(b)
    assert set(got) == set(want) and len(want) > 8
    for key in want:
        assert got[key] == want[key], key


def test_a_checkpoint_cut_by_a_kill_is_skipped_and_removed(tmp_path):
    from harness.training.trainer_io import latest_checkpoint

    assert latest_checkpoint(tmp_path) is None
    for n, state in ((2, "{}"), (3, '{"global_step": 3}'), (5, '{"global_st'), (7, None)):
        (tmp_path / f"checkpoint-{n}").mkdir()
        if state is not None:
            (tmp_path / f"checkpoint-{n}" / "trainer_state.json").write_text(state)
    assert latest_checkpoint(tmp_path) == str(tmp_path / "checkpoint-3")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint-2", "checkpoint-3"]
