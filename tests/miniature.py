"""Miniature recipe runs shared by the pipeline tests: a generated catalog and shrunken settings."""

from __future__ import annotations

import json

import pytest


def mini_args(catalog, runs, recipe: str = "ipr-webshop", extra: dict | None = None) -> list[str]:
    """`harness reproduce RECIPE` arguments shrunk to seconds: a micro model, 20 expert tasks, 1 iteration."""
    sets = {
        "env.kwargs": json.dumps({"data": str(catalog), "nouns": "heuristic"}),
        "model.init_preset": "micro",
        "model.corpus_tasks": 40,
        "model.copy_pretraining.steps": 5,
        "data.train_tasks": 20,
        "iterations": 1,
        "sft.epochs": 1,
        "sft.batch_size": 8,
        "sft.per_device_batch_size": 8,
        "estimate.n": 2,
        "explore.max_new_tokens": 16,
        "evaluate.max_new_tokens": 16,
        "train.batch_size": 4,
        "train.per_device_batch_size": 4,
        "train.epochs": 1,
        "data.explore_tasks": 3,
        "data.valid_tasks": 4,
        "data.test_tasks": 4,
    }
    sets.update(extra or {})
    args = ["reproduce", recipe, "--runs-dir", str(runs)]
    for k, v in sets.items():
        args += ["--set", f"{k}={v}"]
    return args


@pytest.fixture
def mini_catalog(tmp_path_factory):
    """A catalog with a train split: 1,520 goals so that goals 1500+ are train tasks."""
    from harness.envs.webshop.generator import write_catalog

    return write_catalog(tmp_path_factory.mktemp("ipr") / "cat", n_products=80, n_goals=1520, seed=3)


def run_dir(runs, recipe="ipr-webshop"):
    (recipe_dir,) = (runs / recipe).iterdir()
    return recipe_dir


STAGE0 = ("model", "expert", "sft", "eval_sft_valid", "eval_sft_test")


def stage_folder(run, stage):
    """A stage's folder: stage 0 is shared between recipes under runs/_shared/<stage>-<key>."""
    if stage in STAGE0:
        (folder,) = (run.parent.parent / "_shared").glob(f"{stage}-*")
        return folder
    return run / stage


def require_intercode_sql():
    """The loaded InterCodeSQL world (SQLite), or a skip when the shared Spider data is absent (CI has it)."""
    from harness.envs.intercode_sql import load_world
    from harness.envs.shared_data import DataNotFoundError

    try:
        return load_world(None, "sqlite")
    except DataNotFoundError as e:
        pytest.skip(f"InterCodeSQL data is absent (CI has it): {e}")


def require_alfworld() -> None:
    """Skip unless ALFWorld 0.3.4 / TextWorld 1.7.0 and the shared game files are here (CI has them)."""
    from harness.envs.shared_data import DataNotFoundError

    try:
        import textworld.envs.pddl  # noqa: F401
        from alfworld.agents.utils.misc import Demangler  # noqa: F401

        from harness.envs.alfworld import load_world

        load_world(None)
    except ImportError as e:
        pytest.skip(f"alfworld 0.3.4 / textworld 1.7.0 are not installed: {e}")
    except DataNotFoundError as e:
        pytest.skip(f"ALFWorld game files are absent (CI has them): {e}")
