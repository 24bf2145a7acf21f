"""`harness data fetch alfworld`: download the release archives, unpack them where the env finds them.

The archives are stand-ins built here (served by file:// URLs); no network, no alfworld package.
"""

from __future__ import annotations

import json
import zipfile

import pytest

from harness.cli import main
from harness.envs.alfworld.fetch import fetch_alfworld
from harness.envs.alfworld.games import list_games

TRIALS = {
    "valid_seen/pick_and_place_simple-Book-None-SideTable-329/trial_T1": "pick_and_place_simple",
    "valid_unseen/look_at_obj_in_light-Pen-None-DeskLamp-308/trial_T2": "look_at_obj_in_light",
    "train/pick_two_obj_and_place-Pen-None-Drawer-1/trial_T3": "pick_two_obj_and_place",
    "train/pick_cool_then_place_in_recep-Apple-None-Fridge-Sliced-2/trial_T4": "pick_cool_then_place_in_recep",
}


def release_archives(folder) -> tuple[str, str]:
    """Two zips laid out like ALFWorld's json and tw-pddl release archives."""
    meta, games = folder / "json_2.1.1_json.zip", folder / "json_2.1.1_tw-pddl.zip"
    with zipfile.ZipFile(meta, "w") as zm, zipfile.ZipFile(games, "w") as zg:
        for trial, task_type in TRIALS.items():
            zm.writestr(f"json_2.1.1/{trial}/traj_data.json", json.dumps({"task_type": task_type}))
            zg.writestr(f"json_2.1.1/{trial}/game.tw-pddl", json.dumps({"grammar": "", "solvable": True}))
    return meta.as_uri(), games.as_uri()


def test_fetch_unpacks_the_games_and_records_the_source(tmp_path):
    urls = release_archives(tmp_path)
    messages = []
    dest = fetch_alfworld(tmp_path / "data" / "alfworld", urls=urls, progress=messages.append)
    assert [len(list_games(str(dest), s)) for s in ("seen", "unseen", "train")] == [1, 1, 1]  # Sliced: not loadable
    source = json.loads((dest / "SOURCE.json").read_text())
    assert [a["url"] for a in source["archives"]] == list(urls)
    assert all(len(a["sha256"]) == 64 and a["files"] == 4 for a in source["archives"])
    assert messages[-1].endswith("1 seen, 1 unseen, 1 train")
    assert not list(dest.glob(".download-*"))  # the archives are not kept


def test_fetch_refuses_archives_that_write_outside_the_destination(tmp_path):
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(bad, "w") as z:
        z.writestr("../escape.txt", "x")
    with pytest.raises(ValueError, match="outside the destination"):
        fetch_alfworld(tmp_path / "dest", urls=(bad.as_uri(),), progress=lambda m: None)
    assert not (tmp_path / "escape.txt").exists()


def test_unreachable_release_is_a_clear_cli_error(tmp_path, capsys, monkeypatch):
    import harness.envs.alfworld.fetch as fetch

    monkeypatch.setattr(fetch, "ARCHIVES", ((tmp_path / "no-such.zip").as_uri(),))
    code = main(["data", "fetch", "alfworld", "--output", str(tmp_path / "out")])
    assert code == 2
    assert "could not download" in capsys.readouterr().err


def test_only_alfworld_has_data_to_fetch(capsys):
    assert main(["data", "fetch", "webshop"]) == 2
    assert "only alfworld" in capsys.readouterr().err
