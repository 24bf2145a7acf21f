"""The ScienceWorld expert: the game's own gold action sequence (shortened where it must be), with thoughts.

The game writes a gold path for every task variation (``load(..., generateGoldPath=True)``, then
``getGoldActionSequence()``), and the expert plays it when it fits ETO's step budget. It walks from
room to room (``open door to X``, ``go to X``), waits one time step at a time and re-checks a heated
substance again and again, so some paths do not fit (on the validation split 8 of 194; e.g.
find-animal 16 steps for a budget of 15, boil 148 for 100). Then the expert considers shorter
paths, most faithful first, and plays the first that the game, played ahead in the environment's
own JVM (the game is deterministic here), shows reaching 1.0 within the budget, else the best one:

1. the same game time in fewer steps: each walking run becomes one ``teleport to <where it ends>``
   (ETO's ``easy`` simplifications open every door and allow teleporting), the time steps saved are
   added to the next run of ``wait1``, and runs of ``wait1`` become as many ``wait`` as fit.
   Time matters: on identify-life-stages-1 variation 8 the hatchling is not there yet when a
   teleported path arrives three time steps early; on use-thermometer variation 364 a teleported
   path measures a substance before it has warmed above 0 degrees, while the gold path, written for
   the slower walk, puts it in the "above 0" box;
2. teleports alone;
3. teleports, and every run of two or more ``wait1`` as one ``wait`` (growing plants: grow-plant
   variation 65 scores 1.0 in 25 steps, the gold path 0.90 after 30);
4. and 5. paths 1 and 3 with every run of an action, or a pair of actions, repeated three or more
   times (checking a substance on the stove 31 times) replaced by ``wait`` for the time of all
   repetitions but the last, then the last one;
6. path 4 followed by ``wait`` up to the budget: the gold path of freeze variation 19 stops before
   the liquid rubber has frozen (82/100, also when the package itself plays it with its defaults).

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


def merge_repeats(path: Sequence[str], min_repeats: int = 3) -> list[str]:
    """``path`` with every run of one action, or one pair of actions, repeated ``min_repeats`` times or
    more (the gold path checking a heated substance again and again) replaced by ``wait`` for the
    time steps of all repetitions but the last (ten a wait, rounded up), then the last repetition."""
    out: list[str] = []
    i = 0
    while i < len(path):
        best = (1, 1)  # (repetitions, cycle length)
        for length in (1, 2):
            cycle = list(path[i : i + length])
            if len(cycle) < length:
                continue
            r = 1
            while list(path[i + r * length : i + (r + 1) * length]) == cycle:
                r += 1
            if r >= min_repeats and r * length > best[0] * best[1]:
                best = (r, length)
        r, length = best
        if r >= min_repeats:
            out += ["wait"] * -(-((r - 1) * length) // 10) + list(path[i : i + length])
        else:
            out += list(path[i : i + length])
        i += r * length
    return out


# Game time (the game's move counter) an action takes, measured: most actions 1, ``look around``
# 0, ``wait1`` 2 and ``wait`` 11 ("wait for 10 iterations" and the action itself).
_WAIT1_TICKS, _WAIT_TICKS = 2, 11


def shorten_in_time(gold: Sequence[str], start_room: str) -> list[str]:
    """Fewer steps for about the same game time: walking runs become one teleport, the time they
    saved is added to the next run of ``wait1`` (dropped when none follows), and every run of
    ``wait1`` becomes as many ``wait`` as fit, then ``wait1`` for the rest (at most one time step late)."""
    out: list[str] = []
    room, carried, i = start_room, 0, 0
    while i < len(gold):
        if _WALK.match(gold[i]):
            j, dest = i, room
            while j < len(gold) and (m := _WALK.match(gold[j])):
                dest = m.group(1) if gold[j].startswith("go to") else dest
                j += 1
            teleported = dest != room
            if teleported:
                out.append(f"teleport to {dest}")
                room = dest
            carried += (j - i) - teleported  # the time steps the walk took and the teleport does not
            i = j
        elif gold[i] == "wait1":
            j = i
            while j < len(gold) and gold[j] == "wait1":
                j += 1
            ticks = _WAIT1_TICKS * (j - i) + carried
            carried = 0
            waits, rest = divmod(ticks, _WAIT_TICKS)
            if rest >= _WAIT_TICKS - 1:  # one more wait is at most one step late
                waits, rest = waits + 1, 0
            out += ["wait"] * waits + ["wait1"] * -(-rest // _WAIT1_TICKS)  # rounded up: never early
            i = j
        else:
            out.append(gold[i])
            i += 1
    return out


def candidate_paths(gold: Sequence[str], start_room: str, budget: int) -> list[list[str]]:
    """The paths the expert considers, most faithful to the game's first."""
    short = shorten(gold, start_room)
    timed = shorten_in_time(gold, start_room)
    compact = merge_repeats(timed)
    waited = compact + ["wait"] * (budget - len(compact))  # more time for what the gold path leaves unfinished
    out = [list(gold), timed, short, merge_waits(short), compact, merge_repeats(merge_waits(short)), waited]
    return [p for k, p in enumerate(out) if p and p not in out[:k]]


_chosen: dict[tuple[str, int, str, int], tuple[str, ...]] = {}  # per process


def expert_path(env: SciworldEnv) -> list[str]:
    """The actions the expert plays in the current task: the gold path when it fits the step budget,
    else the first shorter candidate that the game, played ahead, shows reaching 1.0 within the
    budget (else the one that scores best)."""
    gold = list(env.gold_actions())
    if len(gold) <= env.max_steps:
        return gold
    key = (*env.current, env.world.simplifications, env.max_steps)
    if key not in _chosen:
        best, best_reward = gold, float("-inf")
        for path in candidate_paths(gold, env.start_room, env.max_steps)[1:]:
            reward = env.simulate(path)
            if reward > best_reward:
                best, best_reward = path, reward
            if reward >= 1.0:
                break
        _chosen[key] = tuple(best)
    return list(_chosen[key])


def expert_reply(env: SciworldEnv, rng: random.Random) -> tuple[str, str]:
    """(thought, action) for the episode's current state."""
    gold = expert_path(env)
    k = len(env.history)
    if list(gold[:k]) != env.history or k >= len(gold):
        return "The episode has left the known solution; I look around to see where I am.", "look around"
    action = gold[k]
    return thought_for(action, rng), action
