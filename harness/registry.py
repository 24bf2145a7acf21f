"""One lazy registry for everything a user picks by name: environments, model backends, methods and
dataset registries. An entry is a name, a ``module:attribute`` target (imported on first use, so
listing names costs no import) or an object, and a one-line description; an unknown name is an
error that lists the known ones and the closest matches.
"""

from __future__ import annotations

import difflib
import importlib
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class UnknownNameError(KeyError):
    """A name that is not in a registry; the message lists close matches."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


def did_you_mean(name: str, known: list[str], kind: str) -> UnknownNameError:
    """Build the error for an unknown ``name`` among ``known`` with the closest suggestions."""
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    return UnknownNameError(f"unknown {kind} '{name}'. Known: {', '.join(sorted(known)) or 'none'}.{hint}")


@dataclass(frozen=True)
class Entry:
    name: str
    target: Any
    """``module:attribute`` (imported on first use) or the object itself."""
    description: str = ""


class NameRegistry(Generic[T]):
    """Names -> objects of one kind (``kind`` names them in errors), resolved lazily."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, Entry] = {}

    def add(self, name: str, target: T | str, description: str = "") -> None:
        """Register ``target`` (an object, or ``"module:attribute"``) as ``name``; a later add replaces it."""
        self._entries[name] = Entry(name, target, description)

    def get(self, name: str) -> T:
        """The object registered as ``name`` (imported now if it was a ``module:attribute`` target)."""
        if name not in self._entries:
            raise did_you_mean(name, list(self._entries), self.kind)
        entry = self._entries[name]
        if isinstance(entry.target, str) and ":" in entry.target:
            module, _, attribute = entry.target.partition(":")
            return getattr(importlib.import_module(module), attribute)
        return entry.target

    def entries(self) -> list[Entry]:
        """Every entry, sorted by name."""
        return [self._entries[k] for k in sorted(self._entries)]

    def names(self) -> list[str]:
        """The registered names, in registration order."""
        return list(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries
