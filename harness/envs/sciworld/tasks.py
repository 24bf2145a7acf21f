"""ScienceWorld's tasks as ETO evaluates them: ETO's split files, task ids and step budgets.

A task is one variation of one of ScienceWorld's task types, named as the game names it
(``task-1-boil``, ``task-10-use-thermometer``, ...). Task ids join the two: ``task-1-boil/21``.

Splits are ETO's (Song et al. 2024) published index lists (``eval_agent/data/sciworld``), read from
``<data>/sciworld/eto_splits/{train,dev,test}_indices.json``: 1,483 train, 194 dev and 211 test
``[task name, variation]`` pairs over 24 task types. Here ``dev`` is called ``valid`` (``dev`` is an
alias), as in the other environments; task ids keep the files' order. ETO's dev list shares 54
pairs with its train list (kept as published: validation then includes some training tasks; the
test list shares none).

Step budgets: ETO gives every task type its own (``max_steps.json``: 10 to 120 steps), copied below.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from harness.envs.shared_data import resolve_data_dir

SPLIT_FILES = {"train": "train_indices.json", "valid": "dev_indices.json", "test": "test_indices.json"}
ALIASES = {"dev": "valid"}
SPLITS = (*SPLIT_FILES, *ALIASES)
SPLITS_DIR = "eto_splits"
FIX = (
    "ETO's split files (train/dev/test_indices.json from ETO's eval_agent/data/sciworld) belong in "
    "<data>/sciworld/eto_splits/; the project's checkout has them in ../shared/data/sciworld."
)

# ETO's step budget per task type (eval_agent/data/sciworld/max_steps.json).
ETO_MAX_STEPS: dict[str, int] = {
    "task-1-boil": 100,
    "task-1-change-the-state-of-matter-of": 80,
    "task-1-freeze": 80,
    "task-1-melt": 80,
    "task-10-measure-melting-point-(known-substance)": 120,
    "task-10-use-thermometer": 30,
    "task-2-power-component": 20,
    "task-2-power-component-(renewable-vs-nonrenewable-energy)": 30,
    "task-2a-test-conductivity": 30,
    "task-2a-test-conductivity-of-unknown-substances": 30,
    "task-3-find-animal": 15,
    "task-3-find-living-thing": 15,
    "task-3-find-non-living-thing": 15,
    "task-3-find-plant": 15,
    "task-4-grow-fruit": 60,
    "task-4-grow-plant": 30,
    "task-5-chemistry-mix": 60,
    "task-5-chemistry-mix-paint-(secondary-color)": 15,
    "task-5-chemistry-mix-paint-(tertiary-color)": 30,
    "task-6-lifespan-(longest-lived)": 10,
    "task-6-lifespan-(longest-lived-then-shortest-lived)": 12,
    "task-6-lifespan-(shortest-lived)": 10,
    "task-7-identify-life-stages-1": 30,
    "task-7-identify-life-stages-2": 30,
}
LONGEST_BUDGET = max(ETO_MAX_STEPS.values())


def task_id(task_name: str, variation: int) -> str:
    """The task id of a variation: ``task-1-boil/21``."""
    return f"{task_name}/{int(variation)}"


def parse_task_id(tid: str) -> tuple[str, int]:
    """``(task name, variation)`` of a task id; a clear error for anything else."""
    name, sep, var = str(tid).rpartition("/")
    if not sep or name not in ETO_MAX_STEPS or not var.isdigit():
        raise ValueError(
            f"unknown ScienceWorld task id '{tid}': task ids are <task name>/<variation>, e.g. "
            f"'task-1-boil/21', with one of the 24 task names ETO uses (see task_ids('valid'))"
        )
    return name, int(var)


def data_folder(data: str | None) -> Path:
    """The folder holding ``eto_splits/``."""
    return resolve_data_dir("sciworld", data, [f"{SPLITS_DIR}/{f}" for f in SPLIT_FILES.values()], FIX)


def canonical_split(split: str) -> str:
    """``train``, ``valid`` or ``test`` (``dev`` is ``valid``); an error naming the choices otherwise."""
    split = ALIASES.get(split, split)
    if split not in SPLIT_FILES:
        raise ValueError(f"unknown ScienceWorld split '{split}'; choose one of {', '.join(SPLITS)}")
    return split


@lru_cache(maxsize=16)
def split_ids(data: str | None, split: str) -> tuple[str, ...]:
    """The task ids of ``split`` in the order of ETO's file."""
    path = data_folder(data) / SPLITS_DIR / SPLIT_FILES[canonical_split(split)]
    pairs = json.loads(path.read_text(encoding="utf-8"))
    ids = []
    for name, var in pairs:
        if name not in ETO_MAX_STEPS:
            raise ValueError(f"{path}: task name '{name}' is not one of ETO's 24 ScienceWorld task types")
        ids.append(task_id(name, var))
    return tuple(ids)


@lru_cache(maxsize=4)
def split_of(data: str | None) -> dict[str, str]:
    """Each known task id's split (``test`` before ``valid`` before ``train`` where lists overlap)."""
    out: dict[str, str] = {}
    for split in ("train", "valid", "test"):
        out.update(dict.fromkeys(split_ids(data, split), split))
    return out
