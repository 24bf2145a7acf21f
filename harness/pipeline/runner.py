"""Stage bookkeeping for recipes: run folders, manifests, resume, and chunked checkpoints.

Layout: ``runs/<recipe>/<run_id>/<stage>/`` with the stage's outputs and a ``manifest.json``
written last (atomically). Stages that depend on only part of the recipe (stage 0: the model, the
expert data, SFT and its evaluation) are shared: they live in ``runs/_shared/<stage>-<key>/``, keyed
by the hash of the settings they depend on, so every method compared on the same data and SFT
settings reuses one SFT model instead of training its own. A stage with a manifest for the same config hash is complete and is
skipped on a re-run. Long stages process their work in fixed, ordered chunks and write each chunk
atomically, so a killed run resumes at the first missing chunk and, because chunk boundaries do
not depend on where it stopped, ends with the same data as an uninterrupted run.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.execution.checkpoints import write_json_atomic

if TYPE_CHECKING:
    from harness.recipes import Recipe

MANIFEST = "manifest.json"


class Run:
    """One run of a recipe: its folder, its stages' manifests, and resume logic."""

    def __init__(self, recipe: Recipe, runs_dir: str | Path = "runs", run_id: str | None = None, log: Callable[[str], None] = print):
        self.recipe = recipe
        self.config_hash = recipe.config_hash
        self.run_id = run_id or f"{recipe.preset or 'base'}-seed{recipe.seed}-{self.config_hash[:8]}"
        self.runs_dir = Path(runs_dir)
        self.root = self.runs_dir / recipe.name / self.run_id
        self.log = log
        self._folders: dict[str, tuple[Path, str]] = {}  # shared stages: name -> (folder, key)
        self.execution = recipe.execution.provenance()  # recorded in every manifest
        self.root.mkdir(parents=True, exist_ok=True)
        resolved = self.root / "recipe.resolved.json"
        if resolved.exists():
            previous = json.loads(resolved.read_text()).get("config_hash")
            if previous != self.config_hash:
                raise ValueError(
                    f"{self.root} holds a run of a different configuration ({previous[:8]} vs {self.config_hash[:8]}); "
                    "use another --run-id or --runs-dir"
                )
        else:
            write_json_atomic(resolved, {"config_hash": self.config_hash, "recipe": recipe.to_dict()})

    def folder(self, name: str) -> Path:
        """Where stage ``name`` keeps its outputs (its own folder, or the shared one it was run with)."""
        return self._folders[name][0] if name in self._folders else self.root / name

    def stage_dir(self, name: str) -> Path:
        """The folder of stage ``name`` (created)."""
        d = self.folder(name)
        d.mkdir(parents=True, exist_ok=True)
        return d

    def manifest(self, name: str) -> dict[str, Any] | None:
        """The completed stage's manifest, or None when the stage has not finished."""
        path = self.folder(name) / MANIFEST
        if not path.exists():
            return None
        data = json.loads(path.read_text())
        key = self._folders[name][1] if name in self._folders else self.config_hash
        return data if data.get("config_hash") == key else None

    def stage(self, name: str, fn: Callable[[Path], dict[str, Any]], shared_key: str | None = None) -> dict[str, Any]:
        """Run ``fn(stage_dir) -> outputs`` unless the stage is complete; return its manifest.

        With ``shared_key`` (a hash of every setting the stage depends on) the stage lives in
        ``runs/_shared/<name>-<key>`` and a completed one is reused by any run with the same key."""
        if shared_key is not None:
            self._folders[name] = (self.runs_dir / "_shared" / f"{name}-{shared_key[:16]}", shared_key)
        done = self.manifest(name)
        if done is not None:
            self.log(f"[{name}] complete, skipped")
            return done
        self.log(f"[{name}] running")
        start = time.perf_counter()
        outputs = fn(self.stage_dir(name))
        manifest = {
            "stage": name,
            "config_hash": shared_key or self.config_hash,
            "seconds": round(time.perf_counter() - start, 2),
            "peak_rss_mib": _peak_rss_mib(),  # process peak so far: a stage's own peak when run alone
            "execution": self.execution,
            **outputs,
        }
        write_json_atomic(self.folder(name) / MANIFEST, manifest)
        self.log(f"[{name}] done in {manifest['seconds']:.1f}s")
        return manifest


def _peak_rss_mib() -> float:
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # Linux reports KiB


def reset_folder(path: Path) -> None:
    """Remove ``path`` (a stage's partial output that must be rebuilt) if it exists."""
    shutil.rmtree(path, ignore_errors=True)
