"""Stage publishing: the tag carries the data's content hash, so a re-run never collides with an old publish."""

from __future__ import annotations

from dataclasses import asdict

from harness.data.registries import make_registry
from harness.pipeline.publishing import publish_rows
from harness.pipeline.runner import Run
from harness.recipes import load_recipe
from harness.types import StepReward


def rewards(value: float) -> list[dict]:
    return [asdict(StepReward("traj-0", t, "hf:sft", 5, 1.0, 42, value, (value,) * 5)) for t in range(3)]


def publish(tmp_path, checkout: str, rows: list[dict]) -> dict:
    """Publish ``rows`` as iter1/estimate of the same run id from the runs folder of ``checkout``."""
    run = Run(load_recipe("ipr-webshop"), tmp_path / checkout / "runs", log=lambda _: None)
    folder = run.root / "iter1" / "estimate"
    folder.mkdir(parents=True, exist_ok=True)
    return publish_rows(run, folder, "step_rewards", "iter1", rows)


def test_same_run_id_with_other_data_gets_its_own_tag_and_same_data_reuses_it(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_REGISTRY", str(tmp_path / "registry"))  # one registry, shared by two checkouts
    old = publish(tmp_path, "old-checkout", rewards(0.5))
    # Another checkout (e.g. newer code) re-runs the same recipe and seed and gets other data: this used
    # to fail with "already holds different data" after the stage had run.
    new = publish(tmp_path, "new-checkout", rewards(0.75))
    assert old["tag"] != new["tag"] and old["content_hash"] != new["content_hash"]
    assert old["tag"].endswith(old["content_hash"][:12]) and "iter1-estimate-step_rewards-iter1" in old["tag"]
    registry = make_registry("local")
    assert {old["tag"], new["tag"]} <= set(registry.info("harness/ipr-webshop").tags)
    assert registry.resolve("harness/ipr-webshop", old["tag"]) == old["commit"]  # the old tag did not move
    # The same data again (a resumed run) reuses the existing publish.
    again = publish(tmp_path, "third-checkout", rewards(0.5))
    assert again["tag"] == old["tag"] and again["reused"] and again["commit"] == old["commit"]
