"""`harness compare`: only results on the same tasks and environment, paired differences to SFT."""

from __future__ import annotations

import json

import pytest

from harness.evaluation.compare import CompareError, compare, format_markdown
from harness.evaluation.metrics import mean_with_ci


def fake_run(root, name, per_task_by_label, env_version="webshop-v1/x"):
    """A run folder with a report manifest naming one results.json per label."""
    run = root / name
    results = {}
    for label, per_task in per_task_by_label.items():
        folder = root / f"{name}-{label}"
        folder.mkdir(parents=True)
        rewards = list(per_task.values())
        metric = {"value": sum(rewards) / len(rewards), "ci_low": 0.0, "ci_high": 1.0, "n": len(rewards)}
        (folder / "results.json").write_text(json.dumps({
            "env_version": env_version, "policy": f"hf:{name}/{label}", "per_task": per_task,
            "metrics": {"avg_reward": metric, "success_rate": metric, "avg_steps": {**metric, "value": 4.0}},
        }))  # fmt: skip
        results[label] = str(folder)
    (run / "report").mkdir(parents=True)
    (run / "report" / "manifest.json").write_text(json.dumps({"test_results": results}))
    return run


def test_paired_difference_to_sft_is_the_mean_of_per_task_differences(tmp_path):
    sft = {"0": 0.5, "1": 0.0, "2": 1.0, "3": 0.25}
    ipr = {"0": 0.75, "1": 0.5, "2": 1.0, "3": 0.0}
    a = fake_run(tmp_path, "a", {"SFT": sft, "IPR": ipr})
    b = fake_run(tmp_path, "b", {"SFT": sft, "ETO": {"0": 0.5, "1": 0.0, "2": 1.0, "3": 0.25}})
    data = compare([a, b])
    labels = [r["method"] for r in data["rows"]]
    assert labels.count("SFT") == 2  # same rewards but different SFT results folders' policies are kept apart
    row = next(r for r in data["rows"] if r["method"] == "IPR")
    expected = mean_with_ci([ipr[t] - sft[t] for t in sorted(sft)])
    assert row["vs_sft"]["value"] == pytest.approx(0.125) == pytest.approx(expected.value)
    assert row["vs_sft"]["ci_low"] == pytest.approx(expected.ci_low)
    eto = next(r for r in data["rows"] if r["method"] == "ETO")
    assert eto["vs_sft"]["value"] == 0.0
    assert "| IPR | 0.562" in format_markdown(data)


def test_different_tasks_or_environments_are_refused_with_the_reason(tmp_path):
    a = fake_run(tmp_path, "a", {"SFT": {"0": 1.0, "1": 0.0}})
    b = fake_run(tmp_path, "b", {"IPR": {"0": 1.0, "2": 0.0}})
    with pytest.raises(CompareError, match="same data.test_tasks"):
        compare([a, b])
    c = fake_run(tmp_path, "c", {"IPR": {"0": 1.0, "1": 0.0}}, env_version="webshop-v1/other")
    with pytest.raises(CompareError, match="different environments"):
        compare([a, c])
    with pytest.raises(CompareError, match="no finished report"):
        compare([tmp_path / "missing"])
