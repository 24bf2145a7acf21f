"""`harness eval` end to end on a generated catalog, as a user runs it."""

from __future__ import annotations

import json

import pytest

from harness.cli import main
from harness.evaluation.evaluator import validate_results
from harness.evaluation.metrics import mean_with_ci
from harness.types import Trajectory
from miniature import mini_catalog  # noqa: F401 (fixture)


def run_eval(tmp_path, catalog, policy, limit=120, extra=()):
    out = tmp_path / policy
    code = main(["eval", "--env", "webshop", "--data", str(catalog), "--nouns", "heuristic", "--policy", policy,
                 "--split", "test", "--limit", str(limit), "--output", str(out), "--no-progress", *extra])  # fmt: skip
    assert code == 0
    results = json.loads((out / "results.json").read_text())
    trajs = [Trajectory.from_dict(json.loads(line)) for line in (out / "trajectories.jsonl").read_text().splitlines()]
    return results, trajs


def test_expert_solves_nearly_every_goal_and_random_does_not(tmp_path, small_catalog, capsys):
    expert, trajs = run_eval(tmp_path, small_catalog, "expert")
    assert expert["metrics"]["avg_reward"]["value"] >= 0.98
    assert expert["metrics"]["avg_reward"]["n"] == 120
    assert len(trajs) == 120 and all(t.stop_reason == "done" for t in trajs)
    assert all(t.steps[-1].action == "click[buy now]" for t in trajs)
    assert all(s.text.startswith("Thought: ") for t in trajs for s in t.steps)
    assert len({t.steps[0].text.split("\n")[0] for t in trajs}) > 1  # the thoughts' wording varies
    printed = capsys.readouterr().out
    assert "avg_reward" in printed and "95% CI" in printed

    random, _ = run_eval(tmp_path, small_catalog, "random")
    assert random["metrics"]["avg_reward"]["value"] < 0.4
    assert random["metrics"]["success_rate"]["value"] < 0.2


def test_results_carry_provenance_and_validate(tmp_path, small_catalog):
    results, trajs = run_eval(tmp_path, small_catalog, "expert", limit=20)
    validate_results(results)
    prov = results["provenance"]
    assert prov["n_tasks"] == 20 and prov["max_steps"] == 10 and prov["seed"] == 0
    assert prov["packages"]["torch"].startswith("2.13.0")
    assert "commit" in prov["git"] and prov["hardware"]["cpus"] >= 1
    assert results["env_version"] == trajs[0].env_version
    assert results["per_task"] == {t.task_id: t.final_reward for t in trajs}
    broken = dict(results, metrics={k: v for k, v in results["metrics"].items() if k != "success_rate"})
    with pytest.raises(ValueError, match="success_rate"):
        validate_results(broken)


def test_same_command_gives_identical_results(tmp_path, small_catalog):
    a, ta = run_eval(tmp_path / "a", small_catalog, "random", limit=30)
    b, tb = run_eval(tmp_path / "b", small_catalog, "random", limit=30)
    assert a["per_task"] == b["per_task"] and a["metrics"] == b["metrics"]
    assert [t.id for t in ta] == [t.id for t in tb]
    c, _ = run_eval(tmp_path / "c", small_catalog, "random", limit=30, extra=("--seed", "1"))
    assert c["per_task"] != a["per_task"]


def test_an_edited_trajectory_no_longer_matches_its_id(tmp_path, small_catalog):
    _, trajs = run_eval(tmp_path, small_catalog, "expert", limit=3)
    record = trajs[0].to_dict()
    record["final_reward"] = 0.5
    with pytest.raises(ValueError, match="does not match its content hash"):
        Trajectory.from_dict(record)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--policy", "expret"], "Did you mean: expert"),
        (["--policy", "expert", "--env", "webshp"], "unknown environment 'webshp'"),
        (["--policy", "expert", "--split", "dev"], "unknown WebShop split 'dev'"),
        (["--policy", "expert", "--limit", "0"], "--limit must be a positive"),
        (["--policy", "expert", "--data", "/does/not/exist"], "does not exist"),
        (["--policy", "expert", "--env-arg", "engine"], "expected KEY=VALUE"),
    ],
)
def test_bad_arguments_get_a_clear_error(small_catalog, capsys, args, message):
    if "--data" not in args:
        args = [*args, "--data", str(small_catalog)]
    assert main(["eval", "--no-progress", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_env_arg_reaches_the_environment(tmp_path, small_catalog):
    """--env-arg KEY=VALUE passes any environment option (here the step budget) and is recorded."""
    results, trajs = run_eval(tmp_path, small_catalog, "random", limit=6, extra=["--env-arg", "max_steps=2"])
    assert results["provenance"]["env_kwargs"]["max_steps"] == 2
    assert all(len(t.steps) <= 2 for t in trajs)


def test_bootstrap_interval_brackets_the_mean():
    m = mean_with_ci([0.0, 1.0] * 50)
    assert m.value == 0.5 and m.n == 100
    assert 0.35 < m.ci_low < 0.5 < m.ci_high < 0.65
    assert mean_with_ci([0.0, 1.0] * 50) == m  # seeded


def test_icl_examples_come_from_the_train_split_and_reach_the_prompt(mini_catalog, tiny_model):  # noqa: F811 (fixture)
    """--icl 1: the scripted expert's first train episode sits between "OK" and the task's first observation."""
    from harness.envs import make_env
    from harness.evaluation.evaluator import EvalConfig, evaluate
    from harness.policies.hf import HFPolicy

    seen: list[list[dict]] = []

    class Recording(HFPolicy):
        def act(self, episodes, sampling):
            seen.extend(e.messages for e in episodes)
            return super().act(episodes, sampling)

    env_kwargs = {"data": str(mini_catalog), "nouns": "heuristic"}
    config = EvalConfig(env="webshop", env_kwargs=env_kwargs, policy=f"hf:{tiny_model}", limit=2, icl=1,
                        max_new_tokens=6, stop=("Action",), progress=False)  # fmt: skip
    result, trajs = evaluate(config, policy=Recording(str(tiny_model), device="cpu"))
    prompt = result.provenance["prompt"]
    train = make_env("webshop", **env_kwargs).task_ids("train")
    assert prompt["icl"] == 1 and prompt["icl_task_ids"] == train[:1] and prompt["icl_hash"]
    assert not set(prompt["icl_task_ids"]) & {t.task_id for t in trajs}
    first = seen[0]
    assert [m["role"] for m in first[:3]] == ["user", "assistant", "user"] and first[1]["content"] == "OK"
    assert first[2]["content"].startswith("Observation:") and first[3]["content"].startswith("Thought:")
    assert len(first) > 6 and first[-1]["content"].startswith("Observation:")
    assert all("Action" not in s.text for t in trajs for s in t.steps)  # cut before the stop sequence
    assert list(result.provenance["sampling"]["stop"]) == ["Action"]


def test_stop_sequences_cut_at_the_earliest():
    from harness.policies.base import cut_at_stop

    assert cut_at_stop("Thought: x\nAction: a\nObservation: y", ["\nObservation", "\nThought"]) == "Thought: x\nAction: a"
    assert cut_at_stop("no stop here", ["STOP", ""]) == "no stop here"
