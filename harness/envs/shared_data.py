"""Where environments find their data files (game files, databases) and keep derived caches.

The data root is, in order: the ``data`` argument (``--data`` on the command line), the
``HARNESS_SHARED_DATA`` environment variable, else ``<repo>/../shared/data`` (the layout of the
project's checkout and CI) and then ``$HARNESS_CACHE/data`` (:func:`harness.locations.env_data_cache`, where ``harness data fetch`` puts
downloads). Each environment reads one sub-folder of it (``alfworld``, ``intercode_sql``). A missing
or incomplete folder is an error that names the paths and the fix.
"""

from __future__ import annotations

import os
from pathlib import Path

from harness.locations import env_data_cache

ENV_VAR = "HARNESS_SHARED_DATA"


class DataNotFoundError(FileNotFoundError):
    """An environment's data folder is missing or lacks a required file."""


def default_data_root() -> Path:
    """``$HARNESS_SHARED_DATA`` if set, else ``<repo>/../shared/data`` next to this checkout."""
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]).expanduser()
    repo = Path(__file__).resolve().parents[2]
    return repo.parent / "shared" / "data"


def _default_roots() -> list[Path]:
    if os.environ.get(ENV_VAR):
        return [default_data_root()]
    return [default_data_root(), env_data_cache()]


def resolve_data_dir(name: str, data: str | os.PathLike | None, required: list[str], fix: str) -> Path:
    """The folder holding environment ``name``'s files, checked for the ``required`` relative paths.

    ``data`` may point at the environment's folder itself or at a root that contains ``name/``.
    ``fix`` tells the user how to obtain the files; it ends every error message.
    """
    roots = [Path(data).expanduser()] if data is not None else _default_roots()
    candidates = [c for base in roots for c in (base, base / name)]
    for folder in candidates:
        if folder.is_dir() and all((folder / r).exists() for r in required):
            return folder
    where = " or ".join(str(c) for c in candidates)
    present = [c for c in candidates if c.is_dir()]
    if present:
        missing = [r for r in required if not (present[-1] / r).exists()]
        problem = f"{present[-1]} lacks {', '.join(missing)}"
    else:
        problem = "none of these folders exists"
    source = "--data" if data is not None else (f"${ENV_VAR}" if os.environ.get(ENV_VAR) else "the default locations")
    raise DataNotFoundError(
        f"{name} data not found: {problem} (looked in {where}, from {source}). {fix} "
        f"Point to the folder with --data DIR (or data=... in Python) or set {ENV_VAR}=<folder containing {name}/>."
    )
