"""`harness compare`: only results on the same tasks and environment, paired differences to SFT."""

from __future__ import annotations

import json
import statistics

import pytest

from harness.evaluation.compare import CompareError, compare, format_markdown
from harness.evaluation.metrics import mean_with_ci


def fake_run(root, name, per_task_by_label, env_version="webshop-v1/x", seed=None):
    """A run folder with a report manifest naming one results.json per label (and the recipe's seed)."""
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
    if seed is not None:
        (run / "recipe.resolved.json").write_text(json.dumps({"config_hash": "h", "recipe": {"seed": seed}}))
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


def test_each_seed_is_paired_with_its_own_sft_and_summarised_across_seeds(tmp_path):
    sft1, ipr1 = {"0": 0.0, "1": 0.5}, {"0": 0.5, "1": 0.5}  # seed 1: IPR +0.25
    sft2, ipr2 = {"0": 1.0, "1": 1.0}, {"0": 0.5, "1": 1.0}  # seed 2: IPR -0.25 against its own SFT
    sft3, ipr3 = {"0": 0.5, "1": 0.5}, {"0": 1.0, "1": 1.0}  # seed 3: IPR +0.5
    runs = [fake_run(tmp_path, f"s{i}", {"SFT": s, "IPR": x}, seed=i) for i, (s, x) in enumerate([(sft1, ipr1), (sft2, ipr2), (sft3, ipr3)], 1)]
    data = compare(runs)
    ipr = [r for r in data["rows"] if r["method"] == "IPR"]
    assert [r["vs_sft"]["value"] for r in ipr] == [0.25, -0.25, 0.5]  # not all against seed 1's SFT
    assert ipr[1]["vs_sft"]["sft_policy"] == "hf:s2/SFT"
    summary = {a["method"]: a for a in data["across_seeds"]}
    assert summary["IPR"]["seeds"] == [1, 2, 3] and summary["IPR"]["vs_sft_positive"] == 2
    assert summary["IPR"]["vs_sft_mean"] == pytest.approx(0.5 / 3)
    assert summary["IPR"]["vs_sft_sd"] == pytest.approx(statistics.stdev([0.25, -0.25, 0.5]))
    assert summary["SFT"]["avg_reward_mean"] == pytest.approx((0.25 + 1.0 + 0.5) / 3) and "vs_sft_mean" not in summary["SFT"]
    # Pooled: per task, the difference averaged over seeds (task 0: (0.5 - 0.5 + 0.5) / 3, task 1: (0 + 0 + 0.5) / 3).
    pooled = mean_with_ci([0.5 / 3, 0.5 / 3])
    assert summary["IPR"]["vs_sft_pooled"]["value"] == pytest.approx(0.5 / 3)
    assert summary["IPR"]["vs_sft_pooled"]["ci_low"] == pytest.approx(pooled.ci_low) and "vs_sft_pooled" not in summary["SFT"]
    # Over seeds: mean ± t_{0.975,2} * sd / sqrt(3) = 0.167 ± 4.303 * 0.382 / 1.732: wide, and it contains 0.
    over = summary["IPR"]["vs_sft_over_seeds"]
    half = 4.303 * statistics.stdev([0.25, -0.25, 0.5]) / 3**0.5
    assert (over["ci_low"], over["ci_high"]) == (pytest.approx(0.5 / 3 - half), pytest.approx(0.5 / 3 + half))
    assert "| IPR | 1, 2, 3 | 0.750 ± 0.250 | +0.167 ± 0.382 | 0.167 [-0.782, 1.115] | 0.167 [0.167, 0.167] | 2 of 3 |" in format_markdown(data)


def test_pooled_interval_resamples_whole_tasks_across_seeds(tmp_path):
    # Seed 1 helps on task 0 and hurts on task 1, seed 2 the other way: every per-seed mean is 0 and
    # the seed-averaged per-task differences are 0 too, so the pooled interval collapses to [0, 0];
    # resampling (seed, task) cells independently would have produced a wide interval instead.
    a = fake_run(tmp_path, "a", {"SFT": {"0": 0.0, "1": 1.0}, "IPR": {"0": 1.0, "1": 0.0}}, seed=1)
    b = fake_run(tmp_path, "b", {"SFT": {"0": 1.0, "1": 0.0}, "IPR": {"0": 0.0, "1": 1.0}}, seed=2)
    pooled = {x["method"]: x for x in compare([a, b])["across_seeds"]}["IPR"]["vs_sft_pooled"]
    assert (pooled["value"], pooled["ci_low"], pooled["ci_high"], pooled["n"]) == (0.0, 0.0, 0.0, 2)


def test_rows_without_distinct_seeds_are_not_summarised_as_seeds(tmp_path):
    a = fake_run(tmp_path, "a", {"SFT": {"0": 0.5}, "IPR": {"0": 1.0}}, seed=7)
    b = fake_run(tmp_path, "b", {"SFT": {"0": 0.0}, "IPR": {"0": 0.5}}, seed=7)  # two configs, one seed
    data = compare([a, b])
    assert data["across_seeds"] == [] and "Across seeds" not in format_markdown(data)
