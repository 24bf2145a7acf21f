"""The dataset registries by name: ``local`` (a folder of git repositories, the default) and ``hub``
(the Hugging Face Hub protocol), behind the lazy name registry."""

from __future__ import annotations

from pathlib import Path

from harness.data.registry import Registry
from harness.locations import registry_root
from harness.registry import NameRegistry

REGISTRIES: NameRegistry[type] = NameRegistry("dataset registry")
REGISTRIES.add("local", "harness.data.local_registry:LocalRegistry", "a folder of git repositories (tags = revisions)")
REGISTRIES.add("hub", "harness.data.hub_registry:HubRegistry", "the Hugging Face Hub, or any server speaking its protocol")
REGISTRY_KINDS = tuple(REGISTRIES.names())


def make_registry(
    kind: str = "local", path: str | Path | None = None, endpoint: str | None = None, token: str | None = None
) -> Registry:
    """The registry of ``kind``: ``local`` (folder ``path``, default :func:`harness.locations.registry_root`) or ``hub``."""
    if kind not in REGISTRIES:
        from harness.data.errors import unknown

        raise unknown("registry", kind, list(REGISTRY_KINDS), "--registry")
    cls = REGISTRIES.get(kind)
    if kind == "local":
        return cls(Path(path) if path else registry_root())
    return cls(endpoint=endpoint, token=token)
