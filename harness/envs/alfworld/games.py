"""ALFWorld's game files: where they are, which are playable, and the splits IPR evaluates on.

Layout (as ``alfworld-download`` writes it): ``<data>/json_2.1.1/<split>/<task>-<params>/<trial>/``
with ``game.tw-pddl`` (the TextWorld game), ``traj_data.json`` (ALFRED metadata) and, for the
training games shipped with this project, ``gt_traj.json`` (an expert action sequence).

A game is loadable under the rule ALFWorld's own loader applies (``AlfredTWEnv.collect_game_files``):
its path names no ``movable`` or ``Sliced`` task, its task type is one of the six below, and its
game file says ``"solvable": true``. Task ids are the trial folders relative to ``json_2.1.1``
(e.g. ``valid_seen/pick_and_place_simple-Book-None-SideTable-329/trial_T20190908_050633_745514``), in
sorted order, so they are the same on every machine (ALFWorld's loader uses file-system order).

Splits (IPR): ``seen`` = valid_seen (IPR's "dev", 140 games), ``unseen`` = valid_unseen (IPR's
"test", 134 games, the list in IPR's ``gamefile_id.txt``), ``train`` = every loadable training game
present (445 in the project's data; 3,553 in the full release). ``dev`` and ``test`` are aliases.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from harness.envs.shared_data import resolve_data_dir

GAMES_DIR = "json_2.1.1"
SPLIT_DIRS = {"seen": "valid_seen", "unseen": "valid_unseen", "train": "train"}
ALIASES = {"dev": "seen", "test": "unseen"}
SPLITS = (*SPLIT_DIRS, *ALIASES)
TASK_TYPES = (
    "pick_and_place_simple",
    "look_at_obj_in_light",
    "pick_clean_then_place_in_recep",
    "pick_heat_then_place_in_recep",
    "pick_cool_then_place_in_recep",
    "pick_two_obj_and_place",
)
FIX = (
    "ALFWorld's game files come from its release (`harness data fetch alfworld` downloads them, ~250 MB, "
    "or run `alfworld-download` and pass its folder); the project's checkout has them in ../shared/data/alfworld."
)


@dataclass(frozen=True)
class Game:
    """One playable game: its task id, files and task type."""

    task_id: str
    folder: Path
    task_type: str

    @property
    def game_file(self) -> Path:
        """The TextWorld PDDL game."""
        return self.folder / "game.tw-pddl"

    def expert_actions(self) -> list[str] | None:
        """The actions of ``gt_traj.json`` when the folder has one (training games here), else ``None``."""
        path = self.folder / "gt_traj.json"
        if not path.exists():
            return None
        turns = json.loads(path.read_text(encoding="utf-8"))
        return [t["value"].strip() for t in turns if t.get("from") == "gpt"]


def data_folder(data: str | None) -> Path:
    """The ALFWorld data folder (the one holding ``json_2.1.1``)."""
    return resolve_data_dir("alfworld", data, [GAMES_DIR], FIX)


def _loadable(folder: Path) -> str | None:
    """The game's task type if ALFWorld's loader would accept it, else ``None``."""
    if "movable" in folder.as_posix() or "Sliced" in folder.as_posix():
        return None
    traj, game = folder / "traj_data.json", folder / "game.tw-pddl"
    if not traj.exists() or not game.exists():
        return None
    task_type = json.loads(traj.read_text(encoding="utf-8")).get("task_type")
    if task_type not in TASK_TYPES:
        return None
    return task_type if json.loads(game.read_text(encoding="utf-8")).get("solvable") is True else None


@lru_cache(maxsize=16)
def list_games(data: str | None, split: str) -> tuple[Game, ...]:
    """The loadable games of ``split`` (``seen``, ``unseen``, ``train`` or an alias), sorted by task id."""
    split = ALIASES.get(split, split)
    if split not in SPLIT_DIRS:
        raise ValueError(f"unknown ALFWorld split '{split}'; choose one of {', '.join(SPLITS)}")
    root = data_folder(data) / GAMES_DIR
    split_dir = root / SPLIT_DIRS[split]
    if not split_dir.is_dir():
        raise FileNotFoundError(f"ALFWorld split '{split}' has no folder {split_dir}. {FIX}")
    games = []
    for traj in sorted(split_dir.glob("*/*/traj_data.json")):
        task_type = _loadable(traj.parent)
        if task_type is not None:
            games.append(Game(traj.parent.relative_to(root).as_posix(), traj.parent, task_type))
    return tuple(games)


def find_game(data: str | None, task_id: str) -> Game:
    """The game with ``task_id``; a clear error when it is unknown or not loadable."""
    root = data_folder(data) / GAMES_DIR
    split = next((s for s, d in SPLIT_DIRS.items() if str(task_id).startswith(d + "/")), None)
    if split is None:
        raise ValueError(
            f"unknown ALFWorld task id '{task_id}': task ids look like valid_seen/<task>/<trial> "
            f"(see task_ids('seen'), task_ids('unseen'), task_ids('train'))"
        )
    game = next((g for g in list_games(data, split) if g.task_id == task_id), None)
    if game is None:
        why = "it is not a loadable game" if (root / task_id).is_dir() else f"there is no folder {root / task_id}"
        raise ValueError(f"unknown ALFWorld task id '{task_id}': {why}")
    return game


@lru_cache(maxsize=4)
def games_fingerprint(data: str | None) -> str:
    """Hash of the seen and unseen games' ids and file sizes: changes when the evaluation games do."""
    h = hashlib.sha256()
    for split in ("seen", "unseen"):
        for g in list_games(data, split):
            h.update(f"{g.task_id}:{g.game_file.stat().st_size}\n".encode())
    return h.hexdigest()[:12]
