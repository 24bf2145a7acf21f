"""The board: stored entries grouped by comparability key and ranked, plus the papers' reported numbers.

Only entries with the same key are ranked together (:class:`~harness.leaderboard.entry.ComparabilityKey`),
and only keys that are registered eval sets (:mod:`~harness.leaderboard.eval_sets`) have a section:
a stored entry of any other key is left off with the reason. Within a set, entries are ordered by
average reward (ties: success rate), with shared ranks for equal scores ("1, 2, 2, 4"), and each
carries its 95% rank interval from a paired bootstrap over the tasks (:mod:`~harness.leaderboard.ranking`). Numbers reported by papers (``reference/*.json``) are kept apart in
:class:`ReferenceTable` and never enter a ranking: they were measured elsewhere.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.leaderboard.entry import ComparabilityKey
from harness.leaderboard.eval_sets import EvalSet, Protocol, load_eval_sets
from harness.leaderboard.ranking import rank_intervals
from harness.leaderboard.scoring import pinned_scorers, stored_score, unpinned_reasons
from harness.leaderboard.store import LocalLeaderboard
from harness.types import Metric


NOT_PINNED = "no scorer pinned for this key"


@dataclass(frozen=True)
class Row:
    """One ranked entry."""

    rank: int
    rank_interval: tuple[int, int]
    """The 95% paired-bootstrap interval of the rank (:func:`~harness.leaderboard.ranking.rank_intervals`)."""
    method: str
    policy: str
    entry_id: str
    avg_reward: Metric
    success_rate: Metric
    avg_steps: Metric
    efficiency: Metric | None
    efficiency_note: str
    """Why ``efficiency`` is missing (empty when it is present)."""
    recipe: str
    """``recipe/run/stage`` for recipe results, else empty."""
    submitted_at: str
    checks: str = ""
    """The entry's model-backed spot check and, when raised, its expert-match flag (empty: neither)."""


@dataclass(frozen=True)
class Group:
    """The ranked entries of one comparability key."""

    key: ComparabilityKey
    key_hash: str
    rows: list[Row]
    scorer: str
    """The pinned action-efficiency scorer, or a sentence saying none is pinned."""
    eval_set: EvalSet
    protocol: Protocol


@dataclass(frozen=True)
class ReferenceTable:
    """Numbers a paper reports, with their source label; never ranked with measured entries."""

    source: str
    paper: str
    base_model: str
    metric: str
    note: str
    columns: list[dict[str, str]]
    rows: list[tuple[str, dict[str, float | None]]]

    def for_env(self, env_id: str | None) -> ReferenceTable | None:
        """The table restricted to ``env_id``'s columns (``None`` when it has none)."""
        cols = [c for c in self.columns if env_id is None or c["env_id"] == env_id]
        if not cols:
            return None
        rows = [(m, {c["name"]: v.get(c["name"]) for c in cols}) for m, v in self.rows]
        return ReferenceTable(self.source, self.paper, self.base_model, self.metric, self.note, cols, rows)


@dataclass
class Board:
    """Everything the renderers show."""

    groups: list[Group] = field(default_factory=list)
    references: list[ReferenceTable] = field(default_factory=list)
    env: str | None = None
    skipped: list[str] = field(default_factory=list)
    """A sentence per stored file left off the board because it fails its checks."""


def load_references(root: Path) -> list[ReferenceTable]:
    """Every ``reference/*.json`` table under ``root``, checked for the fields the renderers use."""
    out = []
    for path in sorted((root / "reference").glob("*.json")):
        raw = json.loads(path.read_text(encoding="utf-8"))
        missing = [k for k in ("source", "paper", "base_model", "metric", "columns", "rows") if k not in raw]
        if missing:
            raise ValueError(f"{path} lacks {', '.join(missing)}; see leaderboard/reference/ for the format")
        if "reported by" not in raw["source"]:
            raise ValueError(f"{path}: the source label must say the numbers are reported (e.g. 'reported by the paper (...)')")
        names = [c["name"] for c in raw["columns"]]
        rows = [(r["method"], {n: r["values"].get(n) for n in names}) for r in raw["rows"]]
        out.append(ReferenceTable(raw["source"], raw["paper"], raw["base_model"], raw["metric"], raw.get("note", ""), raw["columns"], rows))
    return out


def _metric(d: dict[str, Any]) -> Metric:
    return Metric(d["value"], d["n"], d.get("ci_low"), d.get("ci_high"))


def build_board(root: str | Path, env: str | None = None) -> Board:
    """Group the stored entries of leaderboard folder ``root`` that pass every check by eval set and
    rank them (``env``: only that env); the others are listed in ``Board.skipped``."""
    root = Path(root)
    pins, unpinned = pinned_scorers(root), unpinned_reasons(root)
    registry = load_eval_sets(root)
    by_key: dict[str, list[dict[str, Any]]] = {}
    entries, skipped = LocalLeaderboard(root).scan()
    for entry in entries:
        if registry.for_key(ComparabilityKey(**entry["key"])) is None:
            skipped.append(f"entry {entry['entry_id']} ({entry['method']}): its key {entry['key_hash']} is not a registered "
                           f"eval set of {registry.where}")  # fmt: skip
        elif env is None or entry["key"]["env_id"] == env:
            by_key.setdefault(entry["key_hash"], []).append(entry)
    groups = []
    for key_hash, entries in by_key.items():
        pin = pins.get(key_hash)
        entries.sort(key=lambda e: (-e["result"]["metrics"]["avg_reward"]["value"],
                                    -e["result"]["metrics"]["success_rate"]["value"], e["submission"]["submitted_at"]))  # fmt: skip
        intervals = rank_intervals([e["result"]["per_task"] for e in entries])
        rows, previous, rank = [], None, 0
        for i, (e, interval) in enumerate(zip(entries, intervals, strict=True), 1):
            m = e["result"]["metrics"]
            score = (m["avg_reward"]["value"], m["success_rate"]["value"])
            rank = rank if score == previous else i
            previous = score
            rows.append(_row(root, e, rank, interval, pin))
        scorer = pin.describe() if pin else unpinned.get(key_hash, f"no scorer pinned for key {key_hash} in scorers.json")
        key = ComparabilityKey(**entries[0]["key"])
        eval_set = registry.for_key(key)
        groups.append(Group(key, key_hash, rows, scorer, eval_set, registry.protocols[eval_set.protocol]))
    order = {s.name: i for i, s in enumerate(registry.sets)}
    groups.sort(key=lambda g: (g.key.env_id, order[g.eval_set.name]))
    refs = [t for t in (r.for_env(env) for r in load_references(root)) if t is not None]
    return Board(groups, refs, env, skipped)


def _row(root: Path, e: dict[str, Any], rank: int, interval: tuple[int, int], pin: Any) -> Row:
    m = e["result"]["metrics"]
    efficiency, note = None, NOT_PINNED
    if pin is not None:
        s = stored_score(root, e, pin)
        if s is None:
            note = "not computed yet: run `harness leaderboard --score`"
        else:
            efficiency, note = Metric(s["value"], s["n"], s["ci_low"], s["ci_high"]), ""
    r = e["submission"]["recipe"]
    recipe = f"{r['name']}/{r['run_id']}/{r['stage']}" if r else ""
    return Row(rank, interval, e["method"], e["result"]["policy"], e["entry_id"], _metric(m["avg_reward"]), _metric(m["success_rate"]),
               _metric(m["avg_steps"]), efficiency, note, recipe, e["submission"]["submitted_at"], _checks(root, e))  # fmt: skip


def _checks(root: Path, e: dict[str, Any]) -> str:
    """What the board says about an entry beyond replay: its spot check, and the expert flag when raised."""
    from harness.leaderboard.expert_match import expert_match_status
    from harness.leaderboard.spot_check import spot_check_status

    spot, match = spot_check_status(root, e), expert_match_status(root, e)
    parts = [spot.describe()] if spot else []
    if match and (match.flagged or match.problem):
        parts.append(match.describe())
    return "; ".join(parts)
