"""The WebShop text environment: ``search[...]`` and ``click[...]`` over a catalog, rewarded on purchase.

A ``WebShopWorld`` (catalog, prices, goals, search index) is loaded once per process and shared by
any number of lightweight ``WebShopEnv`` episodes, so many episodes can run side by side.
"""

from __future__ import annotations

import copy
import dataclasses
import random
import re
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path

from harness.envs.base import AvailableActions, StepResult
from harness.envs.webshop import pages
from harness.envs.webshop.catalog import Catalog, load_catalog
from harness.envs.webshop.goals import SPLITS, Goal, build_goals, draw_prices, split_goal_ids
from harness.envs.webshop.reward import webshop_reward
from harness.envs.webshop.search import ProductSearch
from harness.envs.webshop.text_matching import (
    LEGACY_TEXT_MATCHING,
    NounExtractor,
    Ratio,
    resolve_noun_extractor,
    resolve_text_matching,
)
from harness.types import Task

RULES_VERSION = "1"  # bump when pages, actions or the reward change
MAX_STEPS = 10  # IPR's WebShop budget
MAX_ACTION_CHARS = 500
_ACTION = re.compile(r"(.+)\[(.+)\]")  # the original's parser: name[argument], text after ']' ignored


@dataclass
class WebShopWorld:
    """Everything episodes share: catalog, drawn prices, goals, splits and the search engine."""

    catalog: Catalog
    prices: dict[str, float]
    goals: list[Goal]
    splits: dict[str, list[int]]
    search: ProductSearch
    nouns_name: str
    nouns: NounExtractor
    seed: int
    split_scheme: str
    text_matching: str
    ratio: Ratio

    @cached_property
    def split_of(self) -> dict[int, str]:
        """Goal index -> split name."""
        return {i: name for name, ids in self.splits.items() for i in ids}

    @property
    def version(self) -> str:
        """Environment version: rules, noun extractor, text matching, catalog content and seed (all
        reward-affecting); the text matching of versions before that option (``rapidfuzz-v1``) is implied."""
        text = "" if self.text_matching == LEGACY_TEXT_MATCHING else f"/text-{self.text_matching}"
        return f"webshop-v{RULES_VERSION}/nouns-{self.nouns_name}{text}/catalog-{self.search.fingerprint[:12]}/seed-{self.seed}"


@lru_cache(maxsize=4)
def load_world(data: str | None = None, seed: int = 0, nouns: str = "auto", split_scheme: str = "webshop",
               text_matching: str = "auto") -> WebShopWorld:  # fmt: skip
    """Load (once per process) the world for catalog folder ``data`` (default: the generated catalog);
    ``text_matching``: the fuzzy ratio of the reward (``auto``: the original's on a ``data`` catalog)."""
    text_name, ratio = resolve_text_matching(text_matching, generated_catalog=data is None)
    if data is None:
        from harness.envs.webshop.generator import default_catalog_dir

        data = str(default_catalog_dir())
    catalog = load_catalog(Path(data))
    prices = draw_prices(catalog, seed)
    goals = build_goals(catalog, prices, seed)
    nouns_name, extractor = resolve_noun_extractor(nouns)
    return WebShopWorld(
        catalog=catalog,
        prices=prices,
        goals=goals,
        splits=split_goal_ids(len(goals), split_scheme),
        search=ProductSearch(catalog),
        nouns_name=nouns_name,
        nouns=extractor,
        seed=seed,
        split_scheme=split_scheme,
        text_matching=text_name,
        ratio=ratio,
    )


class WebShopEnv:
    """One WebShop episode at a time over a shared :class:`WebShopWorld`."""

    env_id = "webshop"
    max_steps = MAX_STEPS
    success_threshold = 1.0

    def __init__(self, world: WebShopWorld, max_steps: int = MAX_STEPS):
        self.world = world
        self.max_steps = max_steps
        self.version = world.version
        self.goal: Goal | None = None
        self.state = pages.PageState()
        self.steps_taken = 0
        self.done = False

    def vocabulary_entities(self) -> list[str]:
        """Identifiers an agent copies verbatim from observations into actions: the product ASINs, as
        pages show them. Tokenizers built from scratch hold each as one token (see ``harness.models``)."""
        return sorted(self.world.catalog.by_asin)

    # --- tasks ---------------------------------------------------------------------------------
    def task_ids(self, split: str) -> list[str]:
        """Goal indices of ``split`` as strings (``train``, ``valid`` or ``test``)."""
        if split not in self.world.splits:
            raise ValueError(f"unknown WebShop split '{split}'; choose one of {', '.join(SPLITS)}")
        return [str(i) for i in self.world.splits[split]]

    def _goal(self, task_id: str) -> Goal:
        try:
            i = int(task_id)
            if i < 0:
                raise IndexError
            return self.world.goals[i]
        except (ValueError, IndexError):
            raise ValueError(
                f"unknown WebShop task id '{task_id}': task ids are goal indices 0..{len(self.world.goals) - 1}"
            ) from None

    def task(self, task_id: str) -> Task:
        """The task's instruction and split."""
        goal = self._goal(task_id)
        return Task(self.env_id, str(task_id), goal.instruction_text, self.world.split_of.get(int(task_id)))

    def expert_reply(self, rng: random.Random) -> tuple[str, str]:
        """The scripted oracle's (thought, action) for the current page (privileged: reads the goal)."""
        from harness.envs.webshop.expert import expert_reply

        return expert_reply(self, rng)

    # --- episode -------------------------------------------------------------------------------
    def reset(self, task_id: str) -> str:
        """Start goal ``task_id`` on the search page."""
        self.goal = self._goal(task_id)
        self.state = pages.PageState()
        self.steps_taken = 0
        self.done = False
        return self.observation()

    def fork(self) -> WebShopEnv:
        """A copy of this episode in its current state (Monte-Carlo rollouts branch from it instead of
        replaying their shared prefix); the world (catalog, search index) is shared."""
        twin = copy.copy(self)
        twin.state = dataclasses.replace(self.state, results=list(self.state.results), options=dict(self.state.options))
        return twin

    def observation(self) -> str:
        """The current page as text."""
        return pages.render(self.state, self.goal.instruction_text)

    def available_actions(self) -> AvailableActions:
        """Whether the page has a search bar, and its clickables."""
        return AvailableActions(self.state.kind == "start", tuple(pages.clickables(self.state)))

    def step(self, action: str) -> StepResult:
        """Execute ``search[keywords]`` or ``click[value]``; anything else is answered, never raised."""
        if self.goal is None:
            return StepResult("Invalid action: the episode has not started; call reset(task_id) first.", 0.0, True)
        if self.done:
            return StepResult("Invalid action: the episode is over (the purchase was made or steps ran out).", 0.0, True)
        self.steps_taken += 1
        reward, info = 0.0, {}
        error = self._apply(action if isinstance(action, str) else "", info)
        if self.state.kind == "done":
            reward, self.done = self.state.reward, True
        obs = self.observation()
        if error:
            info["invalid_action"] = error
            obs = f"Invalid action: {error}{pages.SEP}{obs}"
        if not self.done and self.steps_taken >= self.max_steps:
            self.done, info["truncated"] = True, True
        return StepResult(obs, reward, self.done, info)

    def _apply(self, action: str, info: dict) -> str | None:
        """Change the page for ``action``; return a message when the action is not possible."""
        action = action.strip()
        if not action:
            return "the action is empty. Use search[keywords] or click[value]."
        if len(action) > MAX_ACTION_CHARS:
            return f"the action is {len(action)} characters long; the limit is {MAX_ACTION_CHARS}."
        m = _ACTION.match(action)
        if m is None:
            return f"'{action[:80]}' is not an action. Use search[keywords] or click[value]."
        name, arg = m.group(1), m.group(2).lower()
        if name == "search":
            # As in the original, search works from any page (the instruction tells agents to use it
            # from the search page; the environment does not enforce it).
            self.state = pages.PageState(kind="results", keywords=arg, results=self.world.search.search(arg))
            return None
        if name != "click":
            return f"unknown action '{name}'. Use search[keywords] or click[value]."
        available = pages.clickables(self.state)
        if arg not in available or arg == "search":
            shown = ", ".join(c for c in available if c != "search") or "nothing (use search[keywords])"
            return f"'{arg[:80]}' is not clickable on this page. Clickable: {shown}."
        self._click(arg, info)
        return None

    def _click(self, arg: str, info: dict) -> None:
        s = self.state
        if arg == pages.BACK_TO_SEARCH:
            self.state = pages.PageState()
        elif arg == pages.NEXT_PAGE and s.kind == "results":
            s.page += 1
        elif arg == pages.PREV_PAGE and s.kind == "results":
            s.page -= 1
        elif arg == pages.PREV_PAGE and s.kind == "item":
            s.kind, s.product, s.options = "results", None, {}
        elif arg == pages.PREV_PAGE and s.kind == "sub":
            s.kind = "item"
        elif s.kind == "results":
            product = next(p for p in pages.page_products(s) if p.asin.lower() == arg)
            s.kind, s.product, s.options = "item", product, {}
        elif arg == pages.BUY_NOW:
            breakdown = webshop_reward(s.product, self.goal, self.world.prices[s.product.asin], s.options, self.world.nouns,
                                       self.world.ratio)  # fmt: skip
            s.kind, s.reward = "done", breakdown.reward
            info["reward_breakdown"] = breakdown.to_dict()
            info["purchased"] = {"asin": s.product.asin, "options": dict(s.options)}
        elif arg in (sp.lower() for sp in pages.SUB_PAGES):
            s.kind, s.sub_page = "sub", arg.capitalize()
        else:  # an option value on the item page
            s.options[pages.option_owner(s.product)[arg]] = arg


def make_webshop(data: str | None = None, seed: int = 0, nouns: str = "auto", split_scheme: str = "webshop",
                 max_steps: int = MAX_STEPS, text_matching: str = "auto") -> WebShopEnv:  # fmt: skip
    """Build a WebShop episode runner over catalog ``data`` (default: the generated catalog);
    ``text_matching``: ``auto`` | ``thefuzz-0.19`` (the original's) | ``rapidfuzz-v1``."""
    return WebShopEnv(load_world(data, seed, nouns, split_scheme, text_matching), max_steps=max_steps)
