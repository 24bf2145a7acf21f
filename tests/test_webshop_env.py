"""The WebShop environment as an agent uses it: pages, actions, bad input, budget, determinism."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.envs import Environment, make_env
from harness.envs.webshop import WebShopEnv, load_world
from harness.envs.webshop.expert import achievable_reward


@pytest.fixture
def env(small_world) -> WebShopEnv:
    return WebShopEnv(small_world)


def goal_query(env: WebShopEnv) -> str:
    return " ".join([*env.goal.attributes, env.goal.query])


def test_env_satisfies_the_contract(env):
    assert isinstance(env, Environment)
    assert env.max_steps == 10
    assert env.version.startswith("webshop-v1/nouns-heuristic-v1/text-thefuzz-0.19/catalog-")  # a --data catalog: the original's matching


def test_splits_follow_the_webshop_paper(env):
    test, valid = env.task_ids("test"), env.task_ids("valid")
    assert test == [str(i) for i in range(500)]
    assert valid == [str(i) for i in range(500, 600)]
    assert env.task_ids("train") == []  # 600 goals: nothing left past 1499
    with pytest.raises(ValueError, match="unknown WebShop split"):
        env.task_ids("dev")


def test_start_page_shows_instruction_and_search(env):
    obs = env.reset("3")
    assert obs == f"WebShop [SEP] Instruction: [SEP] {env.goal.instruction_text} [SEP] Search"
    assert "price lower than" in env.goal.instruction_text
    assert env.available_actions().has_search_bar
    assert env.available_actions().clickables == ("search",)


def test_search_lists_ten_results_with_paging(env):
    env.reset("3")
    r = env.step(f"search[{goal_query(env)}]")
    assert r.reward == 0 and not r.done
    assert r.observation.startswith(f"Instruction: [SEP] {env.goal.instruction_text} [SEP] Back to Search [SEP] Page 1 (Total results: ")
    clicks = env.available_actions().clickables
    assert clicks[:2] == ("back to search", "next >")
    asins = clicks[2:]
    assert 1 <= len(asins) <= 10
    r = env.step("click[next >]")
    assert "Page 2" in r.observation and "< Prev" in r.observation
    assert "< prev" in env.available_actions().clickables
    r = env.step("click[< prev]")
    assert "Page 1" in r.observation


def test_item_page_options_subpages_and_purchase(env):
    env.reset("5")
    env.step(f"search[{goal_query(env)}]")
    asin = env.available_actions().clickables[2]
    r = env.step(f"click[{asin}]")
    product = env.state.product
    assert product.asin.lower() == asin
    assert f"Price: {product.price_tag} [SEP] Rating: N.A. [SEP] Description [SEP] Features [SEP] Reviews [SEP] Buy Now" in r.observation
    r = env.step("click[Features]")  # argument matching is case-insensitive, as in the original
    assert product.bullets[0] in r.observation
    r = env.step("click[< prev]")
    assert r.observation.endswith("Buy Now")
    group, values = next(iter(product.options.items()))
    env.step(f"click[{values[0]}]")
    assert env.state.options == {group: values[0]}
    r = env.step("click[buy now]")
    assert r.done and r.observation.startswith("Thank you for shopping with us!")
    breakdown = r.info["reward_breakdown"]
    assert r.reward == pytest.approx(breakdown["reward"])
    assert r.info["purchased"] == {"asin": product.asin, "options": {group: values[0]}}


@pytest.mark.parametrize(
    "action, message",
    [
        ("", "the action is empty"),
        ("   ", "the action is empty"),
        ("buy the shampoo", "is not an action"),
        ("jump[now]", "unknown action 'jump'"),
        ("click[not-a-button]", "is not clickable on this page"),
        ("click[search]", "is not clickable on this page"),
        ("search[" + "x" * 5000 + "]", "the limit is 500"),
    ],
)
def test_bad_actions_are_observations_and_use_a_step(env, action, message):
    first = env.reset("1")
    r = env.step(action)
    assert r.observation.startswith("Invalid action: ")
    assert message in r.observation
    assert r.observation.endswith(first)  # the page is unchanged
    assert (r.reward, r.done, env.steps_taken) == (0.0, False, 1)
    assert "invalid_action" in r.info


def test_step_budget_ends_the_episode_with_zero_reward(env):
    env.reset("2")
    results = [env.step("click[nothing]") for _ in range(10)]
    assert [r.done for r in results] == [False] * 9 + [True]
    assert results[-1].info["truncated"] is True and results[-1].reward == 0.0
    after = env.step(f"search[{goal_query(env)}]")
    assert after.done and "episode is over" in after.observation


def test_step_before_reset_is_answered_not_raised(small_world):
    r = WebShopEnv(small_world).step("search[anything]")
    assert "call reset" in r.observation


def test_unknown_task_id_names_the_valid_range(env):
    with pytest.raises(ValueError, match=r"goal indices 0\.\.599"):
        env.reset("100000")
    with pytest.raises(ValueError, match="unknown WebShop task id 'abc'"):
        env.reset("abc")


def test_replaying_actions_reproduces_observations_and_rewards(small_catalog):
    actions = ["search[{q}]", "click[next >]", "click[< prev]", "click[{a}]", "click[description]", "click[< prev]", "click[buy now]"]

    def play(env):
        out = [env.reset("42")]
        q = goal_query(env)
        for a in actions:
            a = a.format(q=q, a=env.available_actions().clickables[-1] if "{a}" in a else "")
            r = env.step(a)
            out.append((r.observation, r.reward, r.done))
        return out

    first = play(make_env("webshop", data=str(small_catalog), nouns="heuristic"))
    # A world loaded from scratch (not the per-process cache): same catalog and seed, same episode.
    fresh = WebShopEnv(load_world.__wrapped__(str(small_catalog), 0, "heuristic", "webshop"))
    assert fresh.world is not first_world(small_catalog)
    assert play(fresh) == first
    assert first[-1][2] is True


def first_world(catalog):
    return load_world(str(catalog), 0, "heuristic", "webshop")


def test_env_seed_changes_price_ceilings_but_is_reproducible(small_catalog):
    a = make_env("webshop", data=str(small_catalog), nouns="heuristic", seed=0)
    b = make_env("webshop", data=str(small_catalog), nouns="heuristic", seed=1)
    texts_a = [a.task(str(i)).instruction for i in range(100)]
    texts_b = [b.task(str(i)).instruction for i in range(100)]
    assert texts_a != texts_b  # ceilings are drawn from the seed
    assert a.version != b.version  # and the seed is part of the version
    again = make_env("webshop", data=str(small_catalog), nouns="heuristic", seed=0)
    assert [again.task(str(i)).instruction for i in range(100)] == texts_a


def test_near_miss_distractors_make_choosing_matter(env):
    """On most goals the top search results hold products that cannot reach the best reward."""
    with_distractor = 0
    for tid in env.task_ids("test")[:60]:
        env.reset(tid)
        env.step(f"search[{goal_query(env)}]")
        best = achievable_reward(env, env.world.catalog.by_asin[env.goal.asin])
        shown = [env.world.catalog.by_asin[c.upper()] for c in env.available_actions().clickables[2:]]
        if any(achievable_reward(env, p) < best for p in shown):
            with_distractor += 1
    assert with_distractor >= 50


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(st.text(max_size=60), st.sampled_from(["search[", "click[", "]", "click[buy now]", "click[< prev]", "click[next >]", "search[shampoo]", "click[back to search]"])), max_size=14))
def test_any_action_text_is_answered_without_raising(env, pieces):
    env.reset("7")
    for i, text in enumerate(pieces):
        if not env.done:
            r = env.step(text)
            assert isinstance(r.observation, str) and r.observation
            assert 0.0 <= r.reward <= 1.0
    assert env.steps_taken <= env.max_steps
