"""One ALFWorld game being played: TextWorld's PDDL engine with ALFWorld's object names.

This is what ALFWorld's ``AlfredTWEnv`` does for one game, without its gym batching and without
importing ``alfworld.agents.environment`` (whose ``__init__`` imports the THOR simulator stack:
torchvision, cv2, ai2thor). The pieces are the same: ``textworld``'s ``PddlEnv`` plays the
``game.tw-pddl`` file and ALFWorld's ``Demangler`` turns PDDL ids into "desk 1"-style names (not
shuffled, as ALFWorld does for evaluation games). Text comes from the game's own grammar, which always
takes the first applicable rule, so observations are deterministic.

Each session holds a private copy of fast-downward's shared library (TextWorld loads one per
environment, about 4 MB resident); :meth:`GameSession.close` frees the planner's state in it.
"""

from __future__ import annotations

import weakref
from functools import lru_cache
from pathlib import Path

INSTALL_HINT = (
    "ALFWorld needs `pip install --no-deps alfworld==0.3.4` then `pip install \"textworld[pddl]==1.7.0\" pyyaml` "
    "(compiles fast-downward: a few minutes)."
)


def package_versions() -> dict[str, str]:
    """Versions of the packages that decide ALFWorld's rules and texts."""
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("alfworld", "textworld", "fast-downward-textworld"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            raise ImportError(f"the package '{name}' is not installed. {INSTALL_HINT}") from None
    return out


def initial_text(feedback: str) -> str:
    """The first observation as IPR shows it: the banner paragraph dropped, paragraphs on their own lines."""
    return "\n".join(feedback.split("\n\n")[1:]).strip()


def step_text(feedback: str) -> str:
    """A step's observation as IPR shows it: without the leading "You arrive at loc N." sentence."""
    text = feedback.strip()
    if text.startswith("You arrive at loc ") and ". " in text:
        text = text[text.find(". ") + 2 :]
    return text


def _memoize_translation() -> None:
    """Make fast-downward's PDDL-to-SAS translation a per-process cache (once).

    TextWorld translates the game's PDDL on every reset, twice; that is ~80% of a reset's time. The
    result depends only on its text arguments and TextWorld only reads it, so it is cached.
    """
    import fast_downward

    if getattr(fast_downward.pddl2sas, "harness_memo", False):
        return
    translate = lru_cache(maxsize=64)(fast_downward.pddl2sas)

    def pddl2sas(domain: str, problem: str, verbose: bool = False, optimize: bool = False):
        return translate(domain, problem, verbose, optimize)

    pddl2sas.harness_memo = True  # type: ignore[attr-defined]
    fast_downward.pddl2sas = pddl2sas


class GameSession:
    """A loaded game: reset it, step it, read its admissible commands and its true state."""

    def __init__(self, game_file: Path):
        try:
            import textworld
            from alfworld.agents.utils.misc import Demangler
            from textworld.envs.pddl import PddlEnv
        except ImportError as e:
            raise ImportError(f"cannot import ALFWorld's engine ({e}). {INSTALL_HINT}") from None
        _memoize_translation()
        self.game_file = Path(game_file)
        self._env = PddlEnv(textworld.EnvInfos(won=True, admissible_commands=True))
        self._env.load(str(self.game_file))
        names = Demangler(game_infos=self._env._entity_infos, shuffle=False)
        for info in self._env._entity_infos.values():
            info.name = names.demangle_alfred_name(info.id)
        self._state = None
        # Free the planner state even when the session is dropped without close().
        self._finalizer = weakref.finalize(self, _release, self._env.downward_lib)

    def reset(self) -> tuple[str, list[str]]:
        """Restart the game: (raw intro text, admissible commands)."""
        self._state = self._env.reset()
        return self._state.feedback, list(self._state["admissible_commands"])

    def step(self, command: str) -> tuple[str, bool, list[str]]:
        """Play ``command``: (raw feedback, won, admissible commands). Unknown commands: "Nothing happens."."""
        self._state, _, _ = self._env.step(command)
        return self._state.feedback, bool(self._state["won"]), list(self._state["admissible_commands"])

    def facts(self) -> list[tuple[str, tuple[str, ...]]]:
        """The game's true state: ``(predicate, argument display names)``, lower-cased (privileged)."""
        infos = self._env._entity_infos

        def name(v) -> str:
            return (infos[v.name].name if v.name in infos else v.name).strip().lower()

        return [(f.name.lower(), tuple(name(v) for v in f.arguments)) for f in self._env._pddl_state.facts]

    def close(self) -> None:
        """Free the planner's state (the session is unusable afterwards)."""
        self._finalizer()
        self._env = None


def _release(downward_lib) -> None:
    # Frees the planner's state. The library itself stays mapped: unloading it (dlclose, as
    # fast_downward.close_lib does) leaves exit handlers pointing into unmapped code, and Python
    # then crashes at exit.
    downward_lib.cleanup()
