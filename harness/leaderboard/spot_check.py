"""Model-backed spot checks: regenerate a sample of an entry's episodes with the model it names.

Replay (:mod:`~harness.leaderboard.replay`) proves that an entry's episodes are what the pinned
environment answers to its actions; it cannot tell *which policy* chose the actions. An entry's
``results.json`` names its model (``provenance.policy``: spec, resolved path, Hub revision,
``weights_sha256`` per safetensors file, ``files_sha256`` of tokenizer/config/chat template, dtype,
device) and how it decoded (``provenance.sampling``, ``seed``, ``prompt``). A spot check
(``harness leaderboard --spot-check ENTRY_ID --samples K [--seed S] [--model PATH]``):

1. reads the stored entry through its seal and every derived check (a tampered entry is refused);
2. resolves the model: ``--model PATH`` (a local copy), else the recorded path (as given, or under
   the leaderboard folder), else the recorded Hub id at its recorded revision; refuses when a
   safetensors file's sha256 differs from the recorded one, or the entry recorded none;
3. picks K tasks of the eval set with ``random.Random(S)`` (S recorded), and plays them again in the
   pinned environment with the recorded sampling, in-context examples and per-episode seeds. An
   episode's replies depend only on (episode seed, task id, step) — the sampling seed of every
   reply is :func:`~harness.policies.base.sample_seed` — and greedy replies do not depend on the
   batch (``tests/policy_contract.py``), so one episode re-run alone equals the full run's;
4. compares each with the stored episode: identical actions (else the first step that differs),
   identical reply texts and an equal final reward, and writes ``spot_checks/<entry-id>.json`` under the leaderboard
   (:mod:`~harness.leaderboard.check_records`: atomic, content-hashed, checked by ``--verify``).

Agreement is evidence that the named model played the episodes; disagreement with the right
weights means another policy (or other settings) did. Scripted specs (``expert``, ``random``) are
regenerated the same way, with no weights to check; ``openai:`` endpoints pin no weights and are refused.

The board's API (``board.py`` may call it; nothing here renders tables):

- :func:`spot_check_status` ``(root, entry) -> SpotCheckStatus | None``: the stored record of
  ``entry`` (``None`` when it has none); ``.describe()`` is one line, e.g. ``spot-checked 5/5 agree``;
- :func:`~harness.leaderboard.expert_match.expert_match_status` ``(root, entry) -> ExpertMatchStatus | None``:
  the cached fraction of episodes equal to the scripted expert's, ``.flagged`` and ``.describe()``.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.leaderboard.check_records import RECORD_FORMAT, read_record, record_path, write_record
from harness.leaderboard.escaping import terminal_text
from harness.leaderboard.replay import close
from harness.types import Trajectory, content_hash

SPOT_CHECK_DIR = "spot_checks"
SCRIPTED = ("expert", "random")


@dataclass(frozen=True)
class SpotCheckStatus:
    """What a stored spot-check record says about its entry (or why the record cannot be trusted)."""

    samples: int = 0
    identical: int = 0
    replies_identical: int = 0
    rewards_equal: int = 0
    steps_agreeing: int = 0
    steps: int = 0
    problem: str | None = None

    @property
    def agrees(self) -> bool:
        """Every sampled episode was regenerated with identical actions, replies and final reward."""
        return self.problem is None and self.samples > 0 and \
            self.identical == self.replies_identical == self.rewards_equal == self.samples

    def describe(self) -> str:
        """One line for a board cell, e.g. ``spot-checked 5/5 agree``."""
        if self.problem:
            return "spot-check record invalid"
        if self.agrees:
            return f"spot-checked {self.samples}/{self.samples} agree"
        return (f"spot check disagrees: {self.identical}/{self.samples} same actions, "
                f"{self.replies_identical}/{self.samples} same replies, {self.rewards_equal}/{self.samples} rewards equal")


def spot_check_status(root: str | Path, entry: dict[str, Any]) -> SpotCheckStatus | None:
    """The spot check stored for ``entry`` under the leaderboard ``root``; ``None`` when there is none."""
    path = record_path(Path(root), SPOT_CHECK_DIR, entry["entry_id"])
    if not path.exists() and not path.is_symlink():
        return None
    try:
        s = read_record(path, entry, check_spot_record)["summary"]
    except ValueError as e:
        return SpotCheckStatus(problem=str(e))
    return SpotCheckStatus(s["samples"], s["episodes_identical"], s["replies_identical"], s["rewards_equal"],
                           s["steps_agreeing"], s["steps"])


def find_entry(root: Path, entry_id: str) -> dict[str, Any]:
    """The stored entry ``entry_id``, read through its seal and every derived check; ``ValueError`` otherwise."""
    from harness.leaderboard.store import LocalLeaderboard

    path = record_path(root, "entries", entry_id)  # checks the id's shape
    files = sorted((root / "entries").glob(f"*/{path.name}")) if (root / "entries").is_dir() else []
    if not files:
        raise ValueError(f"no entry {entry_id} in {root / 'entries'}; `harness leaderboard` lists the entries")
    entries, problems = LocalLeaderboard(root).scan(files[0].parent.name)
    for e in entries:
        if e["entry_id"] == entry_id:
            return e
    why = [p for p in problems if entry_id in p] or problems
    raise ValueError(f"entry {entry_id} cannot be spot-checked: {terminal_text(why[0]) if why else 'it is not on the board'}")


def pick_tasks(task_ids: list[str], samples: int, seed: int) -> list[str]:
    """``samples`` distinct tasks of the eval set, drawn with ``random.Random(seed)``, in eval-set order."""
    if not 1 <= samples <= len(task_ids):
        raise ValueError(f"--samples must be between 1 and the eval set's {len(task_ids)} tasks, got {samples}")
    return [task_ids[i] for i in sorted(random.Random(seed).sample(range(len(task_ids)), samples))]


def file_sha256(path: Path) -> str:
    """sha256 of one file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def resolve_model(entry: dict[str, Any], model: str | None, root: Path) -> tuple[str, dict[str, Any]]:
    """The policy spec to regenerate ``entry`` with and what identifies it; refuses other weights.

    ``model``: a local copy of the entry's model (else the recorded path, as given or under ``root``,
    else the recorded Hub id at its recorded revision)."""
    prov = entry["result"]["provenance"]["policy"]
    spec = prov["spec"]
    if spec in SCRIPTED:
        if model:
            raise ValueError(f"entry {entry['entry_id']} was played by the scripted policy '{spec}': it has no model to pass with --model")
        return spec, {"spec": spec, "scripted": True}
    kind, _, target = spec.partition(":")
    if kind not in ("hf", "vllm"):
        raise ValueError(f"entry {entry['entry_id']} was played by '{terminal_text(spec)}', whose weights are not pinned; "
                         "only hf: and vllm: models (and scripted policies) can be spot-checked")  # fmt: skip
    recorded = prov.get("weights_sha256")
    if not isinstance(recorded, dict) or not recorded:
        raise ValueError(f"entry {entry['entry_id']} records no weights_sha256 for its model {terminal_text(target)} "
                         "(over the evaluator's hash limit, or not a local folder): a spot check cannot tell its weights")  # fmt: skip
    folder = _model_folder(entry, prov, target, model, root)
    found = {f.name: file_sha256(f) for f in sorted(folder.glob("*.safetensors"))}
    if found != recorded:
        diff = [f"{n}: recorded {str(recorded.get(n))[:16]}, found {str(found.get(n))[:16]}"
                for n in sorted(set(found) | set(recorded)) if found.get(n) != recorded.get(n)]  # fmt: skip
        raise ValueError(f"the weights in {folder} are not the model entry {entry['entry_id']} names "
                         f"(sha256 of {'; '.join(diff[:4])}); pass --model with a copy of exactly that model")  # fmt: skip
    files = prov.get("files_sha256")
    if isinstance(files, dict):
        other = [n for n, h in files.items() if not (folder / n).is_file() or file_sha256(folder / n) != h]
        if other:
            raise ValueError(f"{folder} has the recorded weights but not the recorded {', '.join(sorted(other))} "
                             f"(tokenizer, config or chat template) of entry {entry['entry_id']}'s model")  # fmt: skip
    info = {"spec": spec, "backend": kind, "path": str(folder), "weights_sha256": found,
            "files_sha256": files if isinstance(files, dict) else None}  # fmt: skip
    return f"{kind}:{folder}", info


def _model_folder(entry: dict[str, Any], prov: dict[str, Any], target: str, model: str | None, root: Path) -> Path:
    if model:
        if not Path(model).is_dir():
            raise ValueError(f"--model {model} is not a folder; give a local copy of the model (safetensors, tokenizer)")
        return Path(model)
    for name in dict.fromkeys(str(x) for x in (prov.get("resolved"), target) if x):
        for candidate in (Path(name), root / name):
            if candidate.is_dir():
                return candidate
    revision = prov.get("revision")
    if target.count("/") == 1 and not target.startswith((".", "/", "~")) and revision:
        from huggingface_hub import snapshot_download

        try:  # the recorded commit, never a moving branch
            return Path(snapshot_download(target, revision=revision))
        except Exception as e:  # noqa: BLE001 - offline, missing or private: the person needs --model
            raise ValueError(f"cannot fetch {target} at revision {revision} ({type(e).__name__}); pass --model PATH") from None
    raise ValueError(f"entry {entry['entry_id']}'s model {terminal_text(target)} is not on this machine "
                     "(neither as recorded nor under the leaderboard folder); pass --model PATH with a local copy")  # fmt: skip


def regenerate(entry: dict[str, Any], task_ids: list[str], spec: str, env_overrides: dict[str, Any] | None = None,
               device: str | None = None) -> tuple[list[Trajectory], dict[str, Any]]:  # fmt: skip
    """Play ``task_ids`` of ``entry`` again with ``spec`` under the recorded decoding settings and
    per-episode seeds; return the trajectories (in order) and the settings used."""
    from harness.envs.pool import env_factory
    from harness.leaderboard.replay import build_pinned_env
    from harness.policies import Sampling, make_policy
    from harness.prompting import TASK_DESCRIPTIONS, icl_examples
    from harness.rollout import run_episodes

    prov, key = entry["result"]["provenance"], entry["key"]
    env_kwargs = {**prov["env_kwargs"], **(env_overrides or {})}
    env = build_pinned_env(key["env_id"], env_kwargs, f"entry {entry['entry_id']}")
    if env.version != key["env_version"]:
        raise ValueError(f"the environment built here is {env.version}, not the entry's {key['env_version']}; pass --data")
    prompt = prov.get("prompt") or {}  # absent in results written before prompts were recorded: no examples then
    described = prompt.get("task_description_hash")
    if described is not None and described != content_hash(TASK_DESCRIPTIONS.get(key["env_id"])):
        raise ValueError(f"the task description of {key['env_id']} prompts changed since entry {entry['entry_id']} was "
                         f"evaluated (harness {prov['git'].get('commit')}); check out that commit to spot-check it")  # fmt: skip
    examples, _ = icl_examples(key["env_id"], env_kwargs, int(prompt.get("icl", 0)))
    if prompt.get("icl_hash") and content_hash(examples) != prompt["icl_hash"]:
        raise ValueError(f"the in-context examples built here differ from the ones entry {entry['entry_id']} was prompted with")
    s = prov["sampling"]
    sampling = Sampling(temperature=s["temperature"], top_p=s.get("top_p", 1.0), max_new_tokens=s["max_new_tokens"],
                        stop=tuple(s.get("stop", ())))  # fmt: skip
    by_task = {t["task_id"]: t for t in entry["trajectories"]}
    seeds = [by_task[tid]["seed"] if by_task[tid].get("seed") is not None else prov["seed"] for tid in task_ids]
    options, used = _policy_options(spec, prov["policy"], device)
    policy = make_policy(spec, **options)
    try:
        trajs = run_episodes(env_factory(key["env_id"], **env_kwargs), task_ids, policy, sampling, seeds=seeds,
                             icl_messages=examples)  # fmt: skip
    finally:
        if hasattr(policy, "close"):
            policy.close()
    settings = {"sampling": {"temperature": sampling.temperature, "top_p": sampling.top_p,
                             "max_new_tokens": sampling.max_new_tokens, "stop": list(sampling.stop)},
                "episode_seeds": sorted(set(seeds)), "icl": int(prompt.get("icl", 0)), "max_steps": env.max_steps,
                **used}  # fmt: skip
    return trajs, settings


def _policy_options(spec: str, recorded: dict[str, Any], device: str | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """The backend options the entry's policy ran with (dtype, context, cache), on ``device``."""
    if spec.partition(":")[0] != "hf":
        return {}, {}
    import torch

    was = str(recorded.get("device", "cpu"))
    device = device or ("cuda" if was.startswith("cuda") and torch.cuda.is_available() else "cpu")
    options = {"device": device, "dtype": recorded.get("dtype", "auto")}
    options.update({k: recorded[k] for k in ("context", "kv_cache", "reuse_prefix") if k in recorded})
    return options, {"device": device, "recorded_device": was, "dtype": options["dtype"]}


def compare_episode(stored: Trajectory, fresh: Trajectory) -> dict[str, Any]:
    """How a regenerated episode compares with the stored one: identical actions (else the first step
    that differs, 1-based, and both actions there), how many leading steps have the same action,
    identical reply texts (else the first step whose reply differs), and equal final rewards."""
    a, b = stored.actions, fresh.actions
    agree = _common_prefix(a, b)
    ra, rb = [s.text for s in stored.steps], [s.text for s in fresh.steps]
    out = {
        "task_id": stored.task_id,
        "trajectory_id": stored.id,
        "regenerated_id": fresh.id,
        "identical": a == b,
        "replies_identical": ra == rb,
        "first_difference": None if a == b else agree + 1,
        "first_reply_difference": None if ra == rb else _common_prefix(ra, rb) + 1,
        "steps": len(a),
        "regenerated_steps": len(b),
        "steps_agreeing": agree,
        "reward": stored.final_reward,
        "regenerated_reward": fresh.final_reward,
        "reward_equal": close(stored.final_reward, fresh.final_reward),
    }
    if a != b:
        out["stored_action"] = None if agree >= len(a) else (a[agree] or "")[:200]
        out["regenerated_action"] = None if agree >= len(b) else (b[agree] or "")[:200]
    return out


def _common_prefix(a: list[Any], b: list[Any]) -> int:
    return next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))


def summarize(episodes: list[dict[str, Any]]) -> dict[str, Any]:
    """Agreement over the sampled episodes. The entry *agrees* when every sampled episode has the same
    actions, the same reply texts (the same model decoding the same way writes the same thoughts) and
    the same final reward."""
    n = len(episodes)
    identical = sum(e["identical"] for e in episodes)
    replies = sum(e["replies_identical"] for e in episodes)
    rewards = sum(e["reward_equal"] for e in episodes)
    return {"samples": n, "episodes_identical": identical, "replies_identical": replies, "rewards_equal": rewards,
            "steps_agreeing": sum(e["steps_agreeing"] for e in episodes), "steps": sum(e["steps"] for e in episodes),
            "agrees": n > 0 and identical == replies == rewards == n}  # fmt: skip


def check_spot_record(record: dict[str, Any]) -> list[str]:
    """What a spot-check record derives from its own content (summary from episodes, counts)."""
    problems = []
    episodes = record["episodes"]
    if record.get("kind") != "spot_check":
        problems.append("it is not a spot-check record")
    if summarize(episodes) != record["summary"]:
        problems.append("its summary is not the summary of its episodes")
    if [e["task_id"] for e in episodes] != record["task_ids"] or len(episodes) != record["samples"]:
        problems.append("its episodes are not its sampled tasks")
    return problems


def spot_check(root: str | Path, entry_id: str, samples: int, seed: int = 0, model: str | None = None,
               env_overrides: dict[str, Any] | None = None, device: str | None = None,
               log: Callable[[str], None] = print) -> tuple[dict[str, Any], Path]:  # fmt: skip
    """Spot-check stored entry ``entry_id``: regenerate ``samples`` of its episodes with its model,
    compare, write ``spot_checks/<entry-id>.json`` under ``root``; return the record and its path."""
    from harness.provenance import git_state, package_versions

    root = Path(root)
    entry = find_entry(root, entry_id)
    spec, model_info = resolve_model(entry, model, root)
    ids = [t["task_id"] for t in entry["trajectories"]]
    chosen = pick_tasks(ids, samples, seed)
    log(f"spot check of entry {entry_id} ('{terminal_text(entry['method'])}'): regenerating {samples} of its {len(ids)} "
        f"episodes (seed {seed}) with {terminal_text(spec)}")  # fmt: skip
    fresh, settings = regenerate(entry, chosen, spec, env_overrides, device)
    stored = {t["task_id"]: Trajectory.from_dict(t) for t in entry["trajectories"]}
    episodes = [compare_episode(stored[t.task_id], t) for t in fresh]
    record = {
        "format": RECORD_FORMAT,
        "kind": "spot_check",
        "entry_id": entry_id,
        "key_hash": entry["key_hash"],
        "entry_seal": entry["seal"],
        "method": entry["method"],
        "model": model_info,
        "samples": samples,
        "seed": seed,
        "eval_set_size": len(ids),
        "task_ids": chosen,
        "settings": settings,
        "episodes": episodes,
        "summary": summarize(episodes),
        "harness_git": git_state(),
        "packages": package_versions(),
        "checked_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    return record, write_record(root, SPOT_CHECK_DIR, record)


def describe_spot_check(record: dict[str, Any], path: Path | None = None) -> str:
    """The terminal report of a spot check: agreement, then each episode that differs."""
    s, m = record["summary"], record["model"]
    weights = ", ".join(f"{n} {h[:12]}" for n, h in (m.get("weights_sha256") or {}).items())
    weights = f"weights sha256 {weights}, as recorded" if weights else "a scripted policy, no weights"
    lines = [
        f"spot check of entry {record['entry_id']} ('{terminal_text(record['method'])}') with {terminal_text(m.get('path') or m['spec'])} "
        f"({weights})",
        f"  episodes with identical actions {s['episodes_identical']}/{s['samples']} (replies too: {s['replies_identical']}), "
        f"steps agreeing {s['steps_agreeing']}/{s['steps']}, final rewards equal {s['rewards_equal']}/{s['samples']}: "
        f"{'AGREES' if s['agrees'] else 'DISAGREES'}",
    ]  # fmt: skip
    for e in record["episodes"]:
        if not (e["identical"] and e["replies_identical"] and e["reward_equal"]):
            where = f"step {e['first_difference']}: stored {e.get('stored_action')!r}, regenerated {e.get('regenerated_action')!r}" \
                if e["first_difference"] else f"the reply of step {e['first_reply_difference']} (same actions)"  # fmt: skip
            lines.append(f"  task {terminal_text(e['task_id'])}: differs at {terminal_text(where)}; "
                         f"reward stored {e['reward']:g}, regenerated {e['regenerated_reward']:g}")  # fmt: skip
    if path is not None:
        lines.append(f"  record written to {path}")
    return "\n".join(lines)
