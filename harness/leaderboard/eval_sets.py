"""The eval sets a leaderboard ranks, and the step-cap protocols they are run under.

A leaderboard folder's ``eval_sets.json`` registers, per environment, the exact eval sets it accepts:
the environment version (rules, reward, data, seed), the split, the number of tasks and the hash of
their ordered ids, the step-cap protocol, and the environment options an evaluation may record. A
submission whose comparability key is not a registered set is refused before anything is replayed,
and the refusal names the registered sets: a ``--limit`` that keeps part of a split, a step budget
of another protocol, or an environment option the submitter chose opens no section of its own.

A protocol is a named step cap per environment with its source (IPR §4.1: WebShop 10, ALFWorld 20,
InterCodeSQL 10 steps; ETO caps ALFWorld at 40), shown with every section of the board.

Two recorded options are exempt from the equality check on ``env_kwargs``: ``data`` (where the
environment's files were on disk; their content is pinned by the environment version) and
``max_steps`` (checked against the protocol). Maintainers add a set with
``harness leaderboard --register-eval-set RESULT_DIR --name NAME --protocol P`` from any honest
evaluation of the whole set (the expert's, typically).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harness.leaderboard.entry import ComparabilityKey, SubmissionRejected

FILE = "eval_sets.json"
PAPER_PROTOCOLS = {
    "ipr": {"title": "IPR", "source": "Xiong et al. 2024, Watch Every Step!, §4.1 (shared/design/METHODS.md, evaluation protocol)",
            "max_steps": {"webshop": 10, "alfworld": 20, "intercode_sql": 10}},
    "eto": {"title": "ETO", "source": "Song et al. 2024, Trial and Error (ETO), ALFWorld at most 40 steps (shared/design/ENVIRONMENTS.md)",
            "max_steps": {"alfworld": 40}},
}  # fmt: skip
"""Step caps of the papers, copied into a leaderboard's file when a set is first registered under one."""
EXEMPT_KWARGS = ("data", "max_steps")
"""Recorded env options that do not have to equal the registered ones (see the module docstring)."""


@dataclass(frozen=True)
class Protocol:
    """A named step cap per environment, with where it comes from."""

    name: str
    title: str
    source: str
    max_steps: dict[str, int]


@dataclass(frozen=True)
class EvalSet:
    """One registered eval set: what a comparability key must equal to be ranked in its section."""

    name: str
    title: str
    env_id: str
    env_version: str
    split: str
    n_tasks: int
    task_ids_hash: str
    protocol: str
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    note: str = ""

    def max_steps(self, protocols: dict[str, Protocol]) -> int:
        """The step cap of this set's protocol."""
        return protocols[self.protocol].max_steps[self.env_id]

    def summary(self, protocols: dict[str, Protocol]) -> str:
        """One line naming the set for people: name, split, size, protocol and step cap."""
        p = protocols[self.protocol]
        return f"{self.name} ({self.split}, {self.n_tasks} tasks, {p.title} protocol: max {self.max_steps(protocols)} steps)"


@dataclass(frozen=True)
class EvalSets:
    """A leaderboard's registered protocols and eval sets."""

    protocols: dict[str, Protocol]
    sets: list[EvalSet]
    where: str = FILE

    def for_key(self, key: ComparabilityKey) -> EvalSet | None:
        """The registered set ``key`` belongs to (env, version, split, ids, size and step cap all equal), or None."""
        for s in self.sets:
            if (s.env_id, s.env_version, s.split, s.task_ids_hash, s.n_tasks, s.max_steps(self.protocols)) == (
                key.env_id, key.env_version, key.split, key.task_ids_hash, key.n_tasks, key.max_steps
            ):  # fmt: skip
                return s
        return None

    def check(self, key: ComparabilityKey, env_kwargs: dict[str, Any], limit: int | None, source: str) -> EvalSet:
        """The registered set of a submission's key and recorded ``env_kwargs``; raises
        :class:`SubmissionRejected` saying what differs from the closest registered sets."""
        found = self.for_key(key)
        if found is not None:
            chosen = {k: v for k, v in env_kwargs.items() if k not in EXEMPT_KWARGS}
            if chosen != found.env_kwargs:
                extra = sorted(set(chosen) | set(found.env_kwargs))
                diff = ", ".join(f"{k}={json.dumps(chosen.get(k))} (registered {json.dumps(found.env_kwargs.get(k))})"
                                 for k in extra if chosen.get(k) != found.env_kwargs.get(k))  # fmt: skip
                raise SubmissionRejected(source, [
                    f"environment options not of eval set {found.name}: {diff}. The leaderboard pins the options of each "
                    f"eval set; evaluate with exactly the registered ones ({json.dumps(found.env_kwargs)})"
                ])  # fmt: skip
            return found
        mine = [s for s in self.sets if s.env_id == key.env_id]
        if not mine:
            names = sorted({s.env_id for s in self.sets})
            raise SubmissionRejected(source, [
                f"this leaderboard registers no eval set for environment '{key.env_id}' "
                f"(registered: {', '.join(names) or 'none'}; {self.where})"
            ])  # fmt: skip
        return self._refuse(key, mine, limit, source)

    def _refuse(self, key: ComparabilityKey, mine: list[EvalSet], limit: int | None, source: str) -> EvalSet:
        listed = "; ".join(s.summary(self.protocols) for s in mine)
        reasons = []
        if not any(s.env_version == key.env_version for s in mine):
            reasons.append(f"environment version '{key.env_version}' is not registered for {key.env_id}; the registered "
                           f"sets use {', '.join(sorted({s.env_version for s in mine}))}")  # fmt: skip
        same_set = [s for s in mine if (s.env_version, s.split, s.task_ids_hash, s.n_tasks) ==
                    (key.env_version, key.split, key.task_ids_hash, key.n_tasks)]  # fmt: skip
        if same_set:
            caps = ", ".join(f"{s.max_steps(self.protocols)} ({self.protocols[s.protocol].title})" for s in same_set)
            reasons.append(f"step budget max_steps={key.max_steps} is not a registered protocol for this eval set (registered: {caps})")
        elif not reasons:
            cut = f" (--limit {limit})" if limit else ""
            reasons.append(f"the eval set — {key.n_tasks} tasks of split '{key.split}'{cut}, task ids {key.task_ids_hash} — "
                           "is not registered: a subset chosen by the submitter is not ranked")  # fmt: skip
        reasons.append(f"registered eval sets for {key.env_id}: {listed}")
        raise SubmissionRejected(source, reasons)

    def to_json(self) -> dict[str, Any]:
        """The file's content."""
        return {
            "description": "Eval sets this leaderboard ranks (harness/leaderboard/eval_sets.py); add one with "
                           "`harness leaderboard --register-eval-set RESULT_DIR --name NAME --protocol P`.",
            "protocols": {n: {k: v for k, v in asdict(p).items() if k != "name"} for n, p in self.protocols.items()},
            "eval_sets": {s.name: {k: v for k, v in asdict(s).items() if k != "name"} for s in self.sets},
        }  # fmt: skip


def load_eval_sets(root: str | Path) -> EvalSets:
    """``root/eval_sets.json`` (an empty registry when the file does not exist); a malformed file is a
    ValueError naming the problem."""
    path = Path(root) / FILE
    if not path.exists():
        return EvalSets({}, [], str(path))
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as e:
        raise ValueError(f"{path} is not JSON ({e})") from None
    return parse_eval_sets(raw, str(path))


def parse_eval_sets(raw: Any, where: str) -> EvalSets:
    """An :class:`EvalSets` from the file's JSON, checking that every set names a protocol covering its
    env; anything malformed is a ValueError naming ``where``."""
    try:
        protocols = {n: Protocol(n, p["title"], p["source"], {e: int(s) for e, s in p["max_steps"].items()})
                     for n, p in raw["protocols"].items()}  # fmt: skip
        sets = [EvalSet(name=n, **s) for n, s in raw["eval_sets"].items()]
    except (TypeError, KeyError, AttributeError, ValueError) as e:
        raise ValueError(f"{where} is malformed ({type(e).__name__}: {e}); see harness/leaderboard/eval_sets.py for the format") from None
    for s in sets:
        if s.protocol not in protocols or s.env_id not in protocols[s.protocol].max_steps:
            raise ValueError(f"{where}: eval set {s.name} names protocol '{s.protocol}', which has no step cap for {s.env_id}")
    return EvalSets(protocols, sets, where)


def register_eval_set(root: str | Path, folder: str | Path, name: str, protocol: str, title: str = "", note: str = "") -> EvalSet:
    """Add the eval set of the evaluation in ``folder`` (``harness eval --output``) to ``root/eval_sets.json``
    as ``name``, after replaying it: the registered task-id hash is what the pinned environment reproduces.

    ``protocol`` is one of the file's protocols or of :data:`PAPER_PROTOCOLS` (then copied into the
    file). Refuses a name in use, a set already registered under another name, or an evaluation
    whose step budget is not the protocol's."""
    from harness.leaderboard.entry import read_submission
    from harness.leaderboard.replay import verify_submission

    if not re.fullmatch(r"[a-z0-9][a-z0-9._-]{0,63}", name):
        raise ValueError(f"eval set name {name!r}: use lower-case letters, digits, '.', '_' or '-' (at most 64), e.g. alfworld-unseen")
    root = Path(root)
    current = load_eval_sets(root)
    papers = {n: Protocol(n, p["title"], p["source"], p["max_steps"]) for n, p in PAPER_PROTOCOLS.items()}
    known = {**papers, **current.protocols}
    sub = read_submission(folder)
    result = sub.result
    if protocol not in known:
        raise ValueError(f"unknown protocol '{protocol}' (registered: {', '.join(sorted(known)) or 'none'})")
    key = ComparabilityKey.from_result(result)
    p = known[protocol]
    if p.max_steps.get(key.env_id) != key.max_steps:
        raise ValueError(f"the result ran {key.env_id} with max_steps={key.max_steps}; protocol '{protocol}' caps it at "
                         f"{p.max_steps.get(key.env_id, 'nothing (no cap for this env)')}")  # fmt: skip
    if any(s.name == name for s in current.sets):
        raise ValueError(f"eval set name '{name}' is already registered")
    registry = EvalSets(known, current.sets, current.where)
    if registry.for_key(key) is not None:
        raise ValueError(f"this eval set is already registered as '{registry.for_key(key).name}'")
    kwargs = {k: v for k, v in result["provenance"]["env_kwargs"].items() if k not in EXEMPT_KWARGS}
    new = EvalSet(name, title or name, key.env_id, key.env_version, key.split, key.n_tasks, key.task_ids_hash,
                  protocol, kwargs, note)  # fmt: skip
    used = {s.protocol for s in [*current.sets, new]} | set(current.protocols)
    registry = EvalSets({n: p for n, p in known.items() if n in used}, [*current.sets, new], current.where)
    verify_submission(sub, EvalSets(registry.protocols, [new], current.where))  # raises SubmissionRejected
    root.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=root, prefix=".eval_sets.")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(registry.to_json(), f, indent=2, ensure_ascii=False)
        f.write("\n")
    os.replace(tmp, root / FILE)
    return new
