"""Action efficiency measured by the leaderboard itself, with one pinned scorer per comparability key.

IPR's action efficiency (§5.4, formula in :mod:`harness.rewards.monte_carlo`) depends on the
scorer policy and its Monte-Carlo settings, so a submitter's own number is never used: the
leaderboard scores every entry of a key with the scorer pinned for that key in ``scorers.json``::

    {"scorers": {"<key-hash>": {"policy": "hf:PATH", "n_rollouts": 5, "temperature": 1.0,
                                "seed": 0, "max_new_tokens": 512, "weights_sha256": "...",
                                "note": "the SFT model of ..."}}}

``PATH`` is resolved against the leaderboard folder when such a folder exists there. A key may
instead be listed under ``"unpinned": {"<key-hash>": "why no scorer is pinned"}``; the board shows
that reason where the number would be.
``weights_sha256`` (optional) pins the scorer's safetensors files: scoring refuses a changed model.
A key with no pinned scorer shows no action efficiency (and says why); numbers are never invented.
Scores are stored beside the entries as ``scores/<key-hash>/<entry-id>.<scorer-hash>.json``, so a
new pin gives new scores and never rewrites old ones.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.execution.settings import ExecutionSettings
from harness.leaderboard.escaping import terminal_text
from harness.rewards.monte_carlo import DEFAULT_N_ROLLOUTS, final_reward_row
from harness.types import content_hash

SCORERS_FILE = "scorers.json"
SCORE_CHUNK = 128  # scorer episodes per checkpointed chunk (as every rollout stage)


@dataclass(frozen=True)
class ScorerPin:
    """The scorer and Monte-Carlo settings pinned for one key (paper setting: SFT model, N=5, T=1)."""

    policy: str
    n_rollouts: int = DEFAULT_N_ROLLOUTS
    temperature: float = 1.0
    seed: int = 0
    max_new_tokens: int = 512
    weights_sha256: str | None = None
    note: str = ""

    @property
    def hash(self) -> str:
        """Hash of everything that changes the scores (not the note)."""
        return content_hash({k: v for k, v in asdict(self).items() if k != "note"})

    def describe(self) -> str:
        """Short label for tables."""
        return f"{self.policy}, N={self.n_rollouts}, T={self.temperature:g}, seed {self.seed}"


def pinned_scorers(root: Path) -> dict[str, ScorerPin]:
    """Key hash -> pinned scorer, from ``root/scorers.json`` (empty when the file is absent)."""
    path = root / SCORERS_FILE
    if not path.exists():
        return {}
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))["scorers"]
        return {key: ScorerPin(**spec) for key, spec in raw.items()}
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise ValueError(f"{path} is not a valid scorers file ({e}); expected {{\"scorers\": {{KEY_HASH: {{\"policy\": ...}}}}}}") from None


def unpinned_reasons(root: Path) -> dict[str, str]:
    """Key hash -> why no scorer is pinned for it, from ``root/scorers.json``'s ``unpinned`` (may be absent)."""
    path = root / SCORERS_FILE
    if not path.exists():
        return {}
    raw = json.loads(path.read_text(encoding="utf-8")).get("unpinned", {})
    if not isinstance(raw, dict) or not all(isinstance(v, str) for v in raw.values()):
        raise ValueError(f"{path}: 'unpinned' must map key hashes to sentences saying why no scorer is pinned")
    return raw


def score_path(root: Path, entry: dict[str, Any], pin: ScorerPin) -> Path:
    """Where the entry's action efficiency under ``pin`` is stored."""
    return root / "scores" / entry["key_hash"] / f"{entry['entry_id']}.{pin.hash}.json"


def stored_score(root: Path, entry: dict[str, Any], pin: ScorerPin) -> dict[str, Any] | None:
    """The stored score of ``entry`` under ``pin``, or ``None`` when there is none or the file is not
    a well-formed score of this entry (then ``harness leaderboard --score`` computes it again)."""
    from harness.leaderboard.replay import close
    from harness.leaderboard.untrusted_input import (
        MAX_SCORE_BYTES,
        UntrustedInputError,
        read_json_file,
    )

    path = score_path(root, entry, pin)
    if not path.exists() and not path.is_symlink():
        return None
    try:
        s = read_json_file(path, MAX_SCORE_BYTES)
    except UntrustedInputError:
        return None
    finite = lambda v: close(v, v)  # a finite number: NaN and infinities fail
    ok = (isinstance(s, dict) and s.get("entry_id") == entry["entry_id"] and s.get("key_hash") == entry["key_hash"]
          and finite(s.get("value")) and type(s.get("n")) is int and all(s.get(k) is None or finite(s.get(k)) for k in ("ci_low", "ci_high")))  # fmt: skip
    return s if ok else None


def weights_sha256(model_dir: Path) -> str | None:
    """sha256 over a local model folder's ``*.safetensors`` files (name and bytes), ``None`` if none."""
    files = sorted(model_dir.glob("*.safetensors")) if model_dir.is_dir() else []
    if not files:
        return None
    h = hashlib.sha256()
    for f in files:
        h.update(f.name.encode())
        with open(f, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def _resolve(root: Path, spec: str) -> tuple[str, Path | None]:
    kind, _, target = spec.partition(":")
    if kind in ("hf", "vllm") and target and (root / target).exists():
        return f"{kind}:{root / target}", root / target
    if kind in ("hf", "vllm") and Path(target).exists():
        return spec, Path(target)
    return spec, None


def score_entry(root: Path, entry: dict[str, Any], pin: ScorerPin, env_overrides: dict[str, Any] | None = None,
                execution: ExecutionSettings | None = None) -> dict[str, Any]:  # fmt: skip
    """Compute and store the entry's action efficiency under ``pin`` (bootstrap 95% interval). The
    scorer's rollouts go through the execution seam: checkpointed chunks (a killed scoring run resumes),
    on Ray workers when ``execution`` asks (``harness leaderboard --score --workers N``)."""
    from harness.envs import make_env
    from harness.envs.pool import env_factory
    from harness.evaluation.metrics import mean_with_ci
    from harness.execution.checkpoints import write_json_atomic
    from harness.execution.executor import Executor
    from harness.policies import Sampling
    from harness.rewards.monte_carlo import (
        METRIC_VERSION,
        collect_scores,
        plan_rollouts,
        summarize_action_efficiency,
    )
    from harness.types import Trajectory

    spec, folder = _resolve(root, pin.policy)
    weights = weights_sha256(folder) if folder else None
    if pin.weights_sha256 and weights != pin.weights_sha256:
        raise ValueError(f"the scorer pinned for key {entry['key_hash']} ({pin.policy}) has weights {weights}, "
                         f"not the pinned {pin.weights_sha256}; restore that model or pin a new scorer")  # fmt: skip
    key = entry["key"]
    kwargs = {**entry["result"]["provenance"]["env_kwargs"], **(env_overrides or {})}
    env = make_env(key["env_id"], **kwargs)
    if env.version != key["env_version"]:
        raise ValueError(f"cannot score entry {entry['entry_id']}: the environment built here is {env.version}, not {key['env_version']}")
    trajectories = [Trajectory.from_dict(t) for t in entry["trajectories"]]
    path = score_path(root, entry, pin)
    partial = path.with_name(path.name.removesuffix(".json") + ".partial")

    # every step of every trajectory, N rollouts each; their seeds depend on (seed, trajectory id,
    # step, k) only, so neither the chunking nor the number of workers changes a number
    targets = [(t, j) for t in trajectories for j in range(len(t.steps))]
    plan = plan_rollouts(targets, pin.n_rollouts, pin.seed, key["max_steps"])
    kind = spec.partition(":")[0]
    settings = replace(execution or ExecutionSettings(), backend=kind if kind in ("hf", "vllm") else "hf")
    executor = Executor(settings, env_factory(key["env_id"], **kwargs))
    sampling = Sampling(temperature=pin.temperature, max_new_tokens=pin.max_new_tokens)
    finals = executor.rollouts(partial, plan.specs, spec, sampling, row=final_reward_row, chunk_size=SCORE_CHUNK)
    scores = iter(collect_scores(plan, [f["final_reward"] for f in finals]))
    per_step = [[next(scores).value for _ in t.steps] for t in trajectories]
    ae = summarize_action_efficiency(
        per_step, len(plan.specs), scorer=spec, n_rollouts=pin.n_rollouts,
        temperature=pin.temperature, seed=pin.seed, settings={"max_steps": key["max_steps"], "max_new_tokens": pin.max_new_tokens},
    )  # fmt: skip
    ci = mean_with_ci([v for v in ae.per_trajectory if v is not None])
    record = {
        "entry_id": entry["entry_id"],
        "key_hash": entry["key_hash"],
        "metric": "action_efficiency",
        "metric_version": METRIC_VERSION,
        "scorer": asdict(pin),
        "scorer_hash": pin.hash,
        "scorer_weights_sha256": weights,
        "value": ae.value,
        "n": ae.n,
        "ci_low": ci.ci_low,
        "ci_high": ci.ci_high,
        "rollouts": ae.rollouts,
        "per_trajectory": ae.per_trajectory,
        "computed_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    write_json_atomic(path, record)
    shutil.rmtree(partial, ignore_errors=True)
    return record


def score_missing(root: Path, entries: list[dict[str, Any]], log: Callable[[str], None] = print,
                  execution: ExecutionSettings | None = None) -> int:  # fmt: skip
    """Score every entry whose key has a pinned scorer and no stored score yet (on Ray workers when
    ``execution`` asks); return how many."""
    pins, done = pinned_scorers(root), 0
    for entry in entries:
        pin = pins.get(entry["key_hash"])
        if pin is None or stored_score(root, entry, pin) is not None:
            continue
        log(f"scoring entry {entry['entry_id']} ({terminal_text(entry['method'])}) with {pin.describe()}")
        record = score_entry(root, entry, pin, execution=execution)
        log(f"  action efficiency {record['value']:.3f} ({record['rollouts']} scorer rollouts)")
        done += 1
    return done
