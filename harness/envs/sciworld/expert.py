"""The ScienceWorld expert: the game's own gold action sequence (shortened where it must be), with thoughts.

The game writes a gold path for every task variation (``load(..., generateGoldPath=True)``, then
``getGoldActionSequence()``), and the expert plays it from the start of the episode. The path walks
from room to room (``open door to X``, ``go to X``), which sometimes does not fit ETO's step budgets
(measured on the validation split: find-animal 16 steps for a budget of 15, test-conductivity 33 for
30, grow-plant 77 for 30). The ``easy`` simplifications ETO plays with open every door and allow
teleporting, so a path longer than the budget has every run of walking actions replaced by one
``teleport to <where the run ends>`` (nothing when it ends where it started). When it is still too
long (growing plants waits with ``wait1`` many times), each run of ``wait1`` becomes one ``wait``
(ten time steps; measured: grow-plant variation 65 then scores 1.0 in 25 steps instead of 0.90 after
30). Paths that fit stay as the game wrote them: teleporting also saves time steps, and on
use-thermometer variation 364 a substance then has not yet warmed above 0 degrees when the gold
path, written for the slower walk, puts it in the "above 0" box (the task fails).

Once the episode has left the path (an agent's prefix that differs), the path no longer applies: the
expert then plays ``look around``, and says so.

Thoughts are templates filled with the action's objects and the task, worded differently
depending on the episode seed.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from harness.envs.sciworld.env import SciworldEnv

_TEMPLATES: dict[str, list[str]] = {
    "go": ["I need to go to the {a}.", "Next I head to the {a}.", "The {a} is where I should be now; I go there."],
    "open": ["I open the {a} to get through or to see inside.", "The {a} has to be open. I open it."],
    "close": ["I close the {a}.", "Now I close the {a} again."],
    "look around": ["I look around to see what is here.", "Let me look around this room.",
                    "I should see what this place contains."],
    "look at": ["I look at the {a} to check its state.", "Let me look at the {a} closely."],
    "examine": ["I examine the {a}.", "Examining the {a} tells me more about it."],
    "read": ["I read the {a}; it may hold what I need to know.", "The {a} may answer my question. I read it."],
    "pick up": ["I need the {a}, so I pick it up.", "I take the {a} with me.", "The {a} will be useful. I pick it up."],
    "focus on": ["The task is about the {a}, so I focus on it.", "I signal that the {a} is what this task is about.",
                 "Now I focus on the {a}, as the task asks."],
    "move": ["I move the {a} to the {b}.", "The {a} has to go to the {b}; I move it there.",
             "Next, the {a} goes into the {b}."],
    "pour": ["I pour the {a} into the {b}.", "Pouring the {a} into the {b} is the next step."],
    "mix": ["I mix the {a}.", "Everything is in the {a}; now I mix it."],
    "activate": ["I turn on the {a}.", "The {a} has to be on. I activate it."],
    "deactivate": ["I turn off the {a}.", "That is enough; I deactivate the {a}."],
    "connect": ["I connect the {a} to the {b}.", "The circuit needs the {a} joined to the {b}."],
    "disconnect": ["I disconnect the {a}.", "The {a} has to come off; I disconnect it."],
    "use": ["I use the {a} on the {b}.", "Using the {a} on the {b} will tell me what I need."],
    "wait": ["Now I wait for things to happen.", "This takes time, so I wait.", "I let some time pass."],
    "choose": ["Several objects match; I choose option {a}.", "I pick option {a} from the list."],
    "other": ["Next: {action}.", "I will {action}."],
}
_TWO_ARGS = re.compile(r"^(move|pour|connect|use)\s+(.+?)\s+(?:to|into|in|on)\s+(.+)$")
_ONE_ARG = re.compile(r"^(teleport to|go to|open|close|look at|examine|read|pick up|focus on|mix|activate|deactivate|disconnect)\s+(.+)$")


def thought_for(action: str, rng: random.Random) -> str:
    """A short thought that explains ``action``."""
    a = b = ""
    if action == "look around":
        kind = "look around"
    elif action.startswith("wait"):
        kind = "wait"
    elif action.isdigit():
        kind, a = "choose", action
    elif m := _TWO_ARGS.match(action):
        kind, a, b = m.group(1), m.group(2), m.group(3)
    elif m := _ONE_ARG.match(action):
        kind, a = m.group(1), m.group(2)
        kind = "go" if kind in ("teleport to", "go to") else kind
        if kind == "open" and a.startswith("door to "):
            kind, a = "go", a[len("door to "):]
            return rng.choice(["I open the door to the {a} to go there.", "The way to the {a} is through this door; I open it."]).format(a=a)
    else:
        kind = "other"
    return rng.choice(_TEMPLATES[kind]).format(a=a, b=b, action=action)


_WALK = re.compile(r"^(?:open door to|go to)\s+(.+)$")


def shorten(gold: Sequence[str], start_room: str) -> list[str]:
    """``gold`` with every run of walking actions replaced by one teleport to where the run ends."""
    out: list[str] = []
    room, i = start_room, 0
    while i < len(gold):
        if not _WALK.match(gold[i]):
            out.append(gold[i])
            i += 1
            continue
        dest = room
        while i < len(gold) and (m := _WALK.match(gold[i])):
            dest = m.group(1) if gold[i].startswith("go to") else dest
            i += 1
        if dest != room:
            out.append(f"teleport to {dest}")
            room = dest
    return out


def merge_waits(path: Sequence[str]) -> list[str]:
    """``path`` with every run of two or more ``wait1`` (one time step each) replaced by one ``wait`` (ten)."""
    out: list[str] = []
    i = 0
    while i < len(path):
        j = i
        while j < len(path) and path[j] == "wait1":
            j += 1
        if j - i >= 2:
            out.append("wait")
        else:
            out.extend(path[i : max(j, i + 1)])
        i = max(j, i + 1)
    return out


def expert_path(env: SciworldEnv) -> list[str]:
    """The actions the expert plays in the current task: the gold path as the game wrote it when it
    fits the step budget, else with teleports, else also with its runs of ``wait1`` merged."""
    gold = list(env.gold_actions())
    if len(gold) <= env.max_steps:
        return gold
    path = shorten(gold, env.start_room)
    return merge_waits(path) if len(path) > env.max_steps else path


def expert_reply(env: SciworldEnv, rng: random.Random) -> tuple[str, str]:
    """(thought, action) for the episode's current state."""
    gold = expert_path(env)
    k = len(env.history)
    if list(gold[:k]) != env.history or k >= len(gold):
        return "The episode has left the known solution; I look around to see where I am.", "look around"
    action = gold[k]
    return thought_for(action, rng), action
