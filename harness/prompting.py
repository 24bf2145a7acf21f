"""Prompts in the papers' conversational form and ReAct parsing of replies.

The conversation (IPR/ETO's format, our wording): the task description as the first user turn,
"OK" from the assistant, optional in-context example turns, then ``Observation:\\n...`` user turns
and ``Thought: ...\\nAction: ...`` assistant turns.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from harness.types import Step, Trajectory

INVALID_FORMAT = "Invalid format: the reply must end with a line 'Action: <action>'. No action was taken."

TASK_DESCRIPTIONS: dict[str, str] = {
    "webshop": (
        "You are shopping on a web store for a customer.\n"
        "Each turn you get an observation of the current page, and you answer with one action.\n"
        "Actions:\n"
        "search[keywords]  (only when the page has a search box)\n"
        "click[value]  (value must be one of the page's clickable items: buttons, product ids, options)\n"
        "An action that is not possible does nothing. Choose search keywords with care.\n"
        "Answer in this format:\n\n"
        "Thought: <your reasoning>\nAction: <one action>"
    ),
    "intercode_sql": (
        "You answer a question about a database by querying a MySQL server.\n"
        "Each turn, reason briefly, then give one action. Two kinds of action exist:\n"
        "1) run a query: put one MySQL statement on one line inside a sql block, for example\n"
        "Action: ```sql\nSELECT name FROM city WHERE population > 100000\n```\n"
        "   You will see its rows, or the error it caused.\n"
        "2) finish: Action: submit\n"
        "   Submitting hands in the rows of your last query as the answer, so make sure the last query "
        "returns exactly what the question asks for.\n"
        "SHOW TABLES and DESCRIBE <table> show the schema. Do not put plain language in the sql block.\n"
        "Answer in this format:\n\n"
        "Thought: <your reasoning>\nAction: <one action>"
    ),
    "alfworld": (
        "You are a robot in a house, given a household task to carry out.\n"
        "Each turn you read what you observe and answer with one text command. Commands:\n"
        "go to <place>, open <place>, close <place>, take <object> from <place>, put <object> in/on <place>,\n"
        "clean <object> with <place>, heat <object> with <place>, cool <object> with <place>,\n"
        "use <object> (e.g. switch on a lamp), examine <object or place>, look, inventory.\n"
        "Use the names exactly as they appear, numbers included (e.g. 'go to countertop 1').\n"
        "If a command is not possible the answer is 'Nothing happens.'; then try something else.\n"
        "Answer in this format:\n\n"
        "Thought: <your reasoning>\nAction: <one command>"
    ),
    "sciworld": (
        "You carry out a science experiment in a simulated world. Its rooms: kitchen, foundry, workshop, "
        "bathroom, outside, living room, bedroom, greenhouse, art studio, hallway.\n"
        "Explore to find what you need; you can teleport to any room in one step. Containers may need opening.\n"
        "Actions:\n"
        "open/close OBJ, activate/deactivate OBJ, connect OBJ to OBJ, disconnect OBJ, use OBJ [on OBJ],\n"
        "look around, look at OBJ, examine OBJ, read OBJ, pick up OBJ, move OBJ to OBJ, pour OBJ into OBJ,\n"
        "mix OBJ, teleport to LOC, focus on OBJ (say which object the task is about; focusing on a wrong one fails "
        "the task), wait (10 steps), wait1 (one step).\n"
        "When several objects match, the game lists them: answer with the number of the one you mean.\n"
        "Answer in this format:\n\n"
        "Thought: <your reasoning>\nAction: <one action>"
    ),
}

HEADER_TURNS = 2
"""The turns every conversation opens with (the task description and "OK"); in-context example turns
follow them, then the episode's first observation."""

_ACTION_LINE = re.compile(r"Action:\s?(.*)", re.DOTALL)


def parse_react(text: str) -> tuple[str, str | None]:
    """Split a reply into (thought, action); action is ``None`` when no ``Action:`` is present.

    Like the papers' agents, everything after the first ``Action:`` is the action (stripped).
    """
    m = _ACTION_LINE.search(text)
    if m is None:
        return text.strip(), None
    thought = text[: m.start()].strip()
    if thought.startswith("Thought:"):
        thought = thought[len("Thought:") :].strip()
    action = m.group(1).strip()
    return thought, (action or None)


def format_react(thought: str, action: str) -> str:
    """The canonical reply text for a thought and an action."""
    return f"Thought: {thought}\nAction: {action}"


def observation_turn(observation: str) -> str:
    """The user turn carrying an environment observation."""
    return f"Observation:\n{observation}"


def build_messages(
    env_id: str,
    initial_observation: str,
    steps: Sequence[Step] = (),
    icl_messages: Sequence[dict[str, str]] = (),
) -> list[dict[str, str]]:
    """The chat history up to now: task description, "OK", examples, then observation/reply turns."""
    if env_id not in TASK_DESCRIPTIONS:
        raise ValueError(f"no prompt for environment '{env_id}'; known: {', '.join(TASK_DESCRIPTIONS)}")
    messages = [{"role": "user", "content": TASK_DESCRIPTIONS[env_id]}, {"role": "assistant", "content": "OK"}]
    messages.extend(icl_messages)
    messages.append({"role": "user", "content": observation_turn(initial_observation)})
    for s in steps:
        messages.append({"role": "assistant", "content": s.text})
        messages.append({"role": "user", "content": observation_turn(s.observation)})
    return messages


def icl_messages_from(trajectory: Trajectory) -> list[dict[str, str]]:
    """A logged episode as in-context example turns for ``build_messages(..., icl_messages=...)``.

    The example's observation/reply turns, ending with its last reply (its final observation is
    dropped so user and assistant turns keep alternating when the real task's first observation
    follows). IPR uses a 1-shot prompt for exploration and Monte-Carlo rollouts.
    """
    turns: list[dict[str, str]] = [{"role": "user", "content": observation_turn(trajectory.initial_observation)}]
    for i, s in enumerate(trajectory.steps):
        turns.append({"role": "assistant", "content": s.text})
        if i + 1 < len(trajectory.steps):
            turns.append({"role": "user", "content": observation_turn(s.observation)})
    return turns


def icl_examples(env_id: str, env_kwargs: dict | None = None, n: int = 1) -> tuple[list[dict[str, str]], list[str]]:
    """In-context example turns for ``build_messages``: the scripted expert's episodes on the first
    ``n`` tasks of the *train* split (never an evaluated split), and those task ids.

    IPR/ETO prompt with one expert episode (1-shot) for exploration, Monte-Carlo rollouts and, except
    on WebShop, evaluation; an instruct model that has not been fine-tuned needs it to answer in the
    ``Thought: / Action:`` format at all.
    """
    if n < 0:
        raise ValueError(f"icl must be 0 or more in-context examples, got {n}")
    if n == 0:
        return [], []
    from harness.envs import make_env
    from harness.policies.scripted import ExpertPolicy
    from harness.rollout import run_episodes

    kwargs = env_kwargs or {}
    ids = make_env(env_id, **kwargs).task_ids("train")[:n]
    if len(ids) < n:
        raise ValueError(f"{env_id}'s train split has {len(ids)} tasks, fewer than icl={n}")
    messages: list[dict[str, str]] = []
    for t in run_episodes(lambda: make_env(env_id, **kwargs), ids, ExpertPolicy()):
        messages.extend(icl_messages_from(t))
        messages.append({"role": "user", "content": "That was an example. Now a new task."})
        messages.append({"role": "assistant", "content": "OK"})
    return messages, list(ids)
