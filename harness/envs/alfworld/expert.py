"""The ALFWorld expert: the game's recorded expert actions, else a solver's, each with a thought.

Action choice. Training games shipped with ``gt_traj.json`` replay its actions while the episode
follows them and they fit the step budget. Otherwise (evaluation games, the official release, long
recordings, or an episode that left the recording) the next action comes from
:mod:`harness.envs.alfworld.oracle`, a deterministic solver that reads the game's true state.
ALFWorld's own hand-coded expert is not used (it searches receptacles one by one, which often takes
more than 20 steps, draws from an unseeded random generator and only runs in training mode), nor is
fast-downward's optimal planner (it searches for minutes on some two-object games).

Thoughts are short templates filled with the command's objects and the task's target (read from the
game folder's name), worded differently depending on the episode seed.
"""

from __future__ import annotations

import random
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from harness.envs.alfworld.env import AlfworldEnv

_TEMPLATES: dict[str, list[str]] = {
    "search": [
        "To {goal}, I first need {a_obj}. It could be at the {dest}, so I will look there.",
        "I am looking for {a_obj}. Let me check the {dest}.",
        "{A_obj} might be at the {dest}; I will go and see.",
    ],
    "carry": [
        "I have the {held} now. Next I go to the {dest}.",
        "With the {held} in hand, I will head to the {dest}.",
        "Now I take the {held} to the {dest}.",
    ],
    "take": [
        "There is the {arg} I need. I will pick it up.",
        "I found {a_obj} here: {arg}. Taking it.",
        "The {arg} is here, so I take it from the {dest}.",
    ],
    "put": [
        "I am at the {dest} with the {arg}, so I put it here.",
        "Now I can place the {arg} in/on the {dest}.",
        "This is where the {arg} belongs; I put it down.",
    ],
    "open": ["The {arg} is closed. I will open it to see what is inside.", "Let me open the {arg} and look inside."],
    "close": ["I will close the {arg} again.", "Nothing more to do with the {arg}; I close it."],
    "clean": ["The {arg} has to be clean first. I will wash it with the {dest}.", "Next I clean the {arg} using the {dest}."],
    "heat": ["The {arg} must be hot. I will heat it with the {dest}.", "Next I heat the {arg} using the {dest}."],
    "cool": ["The {arg} must be cool. I will cool it with the {dest}.", "Next I cool the {arg} using the {dest}."],
    "use": ["Holding the {held}, I will turn on the {arg} to look at it under the light.",
            "Now I switch on the {arg} to examine the {held} in its light."],
    "use_first": ["I will turn on the {arg} first, so that I can look at the {obj} under its light.",
                  "The {arg} is here. Switching it on now lets me examine the {obj} in its light."],
    "other": ["Let me {action} to get more information.", "I will {action} first."],
}
_COMMAND = re.compile(r"^(go to|take|put|open|close|clean|heat|cool|use)\s+(.*?)(?:\s+(?:from|in/on|with)\s+(.*))?$")


def task_objects(folder_name: str) -> tuple[str, str]:
    """(object, target) from a game folder name such as ``pick_clean_then_place_in_recep-Cloth-None-Bathtub-424``."""
    parts = folder_name.split("-")
    obj = parts[1].lower() if len(parts) > 1 else "object"
    target = parts[3].lower() if len(parts) > 3 else ""
    return obj, target


def held_object(history: list[str]) -> str | None:
    """What the agent carries after ``history`` (the last taken object not yet put down)."""
    held = None
    for command in history:
        if command.startswith("take ") and " from " in command:
            held = command[5:].split(" from ")[0]
        elif command.startswith("put ") and held and command[4:].startswith(held):
            held = None
    return held


def thought_for(action: str, env: AlfworldEnv, rng: random.Random) -> str:
    """A short thought that explains ``action`` in the episode's context."""
    obj, _ = task_objects(env.game.folder.parent.name)
    held = held_object(env.history)
    m = _COMMAND.match(action)
    verb, arg, dest = (m.group(1), m.group(2), m.group(3) or "") if m else ("", action, "")
    if verb == "go to":
        kind, dest = ("carry" if held else "search"), arg
    elif verb == "use" and not held:
        kind = "use_first"
    elif verb in _TEMPLATES:
        kind = verb
    else:
        kind = "other"
    goal = env.goal.rstrip(".") or "finish the task"
    a_obj = ("an " if obj[:1] in "aeiou" else "a ") + obj
    text = rng.choice(_TEMPLATES[kind])
    return text.format(goal=goal, obj=obj, a_obj=a_obj, A_obj=a_obj.capitalize(), dest=dest, arg=arg, held=held or obj, action=action)


def next_action(env: AlfworldEnv) -> str:
    """The expert's next command: the recording while it is followed and fits, else the solver's."""
    from harness.envs.alfworld.oracle import State, TaskSpec, next_command

    recorded = env.game.expert_actions()
    step = len(env.history)
    if (recorded and len(recorded) <= env.max_steps and env.history == recorded[:step]
            and step < len(recorded) and recorded[step] in env.admissible):
        return recorded[step]
    task = TaskSpec.from_traj_data(env.game.folder / "traj_data.json")
    return next_command(task, State.from_facts(env.session.facts()))


def expert_reply(env: AlfworldEnv, rng: random.Random) -> tuple[str, str]:
    """(thought, action) for the episode's current state."""
    if env.session is None or env.game is None:
        raise ValueError("the expert needs a started episode: call reset(task_id) first")
    action = next_action(env)
    return thought_for(action, env, rng), action
