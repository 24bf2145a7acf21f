"""The multi-episode rollout engine: many episodes in flight, one batched ``act`` call per step.

Each episode owns an environment instance (cheap: instances share the loaded world). At every
step the replies of all live episodes come from one ``policy.act`` call; replies without a
parsable ``Action:`` get an "invalid format" observation and use up a step, as in IPR/ETO. An
episode may first replay a given prefix of replies (IPR's exploration and Monte-Carlo rollouts
start from expert prefixes); replayed steps are marked ``info["replayed"] = True``. A model that
can no longer fit the history in its context answers with ``ContextOverflow``: the episode ends as
a failure with stop reason ``context_overflow``. Stop reasons: ``done`` (the environment ended the
episode), ``max_steps``, ``context_overflow``.

Environments come from an :class:`~harness.envs.pool.EnvPool` (kept alive across calls when the caller
passes one). Episodes of one call that replay the same prefix of the same task (the N Monte-Carlo
rollouts of a step) replay it once where the environment can ``fork()``: the others start from a copy
of that state, with the same observations and rewards as a replay from reset.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from harness.envs.base import Environment
from harness.envs.pool import EnvPool
from harness.policies.base import ContextOverflow, EpisodeView, Policy, Sampling
from harness.prompting import INVALID_FORMAT, build_messages, observation_turn, parse_react
from harness.types import Step, Trajectory, final_reward_of


@dataclass(frozen=True)
class EpisodeSpec:
    """One episode to play: the task, its sampling seed, the replies replayed before the policy acts
    (an expert prefix, or a trajectory up to the step being scored) and its step budget."""

    task_id: str
    seed: int
    prefix: tuple[str, ...] = ()
    max_steps: int | None = None
    """None = the environment's budget; replayed steps count against it."""


def play_specs(
    make_env: Callable[[], Environment] | EnvPool, specs: Sequence[EpisodeSpec], policy: Policy, sampling: Sampling,
    *, icl_messages: Sequence[dict[str, str]] = (),
) -> list[Trajectory]:
    """Play ``specs`` (one :func:`run_episodes` call per step budget) and return the trajectories in
    spec order, each with ``prefix_steps`` = the length of its replayed prefix; ``icl_messages`` are
    in-context example turns in every episode's prompt (as in :func:`run_episodes`)."""
    out: list[Trajectory | None] = [None] * len(specs)
    make_env = EnvPool.of(make_env)
    for budget in sorted({s.max_steps or 0 for s in specs}):
        idx = [i for i, s in enumerate(specs) if (s.max_steps or 0) == budget]
        got = run_episodes(make_env, [specs[i].task_id for i in idx], policy, sampling,
                           seeds=[specs[i].seed for i in idx], max_steps=budget or None,
                           prefixes=[specs[i].prefix for i in idx], icl_messages=icl_messages)  # fmt: skip
        for i, t in zip(idx, got, strict=True):
            out[i] = replace(t, prefix_steps=len(specs[i].prefix))
    return out  # type: ignore[return-value]


@dataclass
class _Live:
    env: Environment
    view: EpisodeView
    initial: str
    steps: list[Step]
    budget: int
    done: bool = False
    stop_reason: str = ""


def run_episodes(
    make_env: Callable[[], Environment] | EnvPool,
    task_ids: Sequence[str],
    policy: Policy,
    sampling: Sampling = Sampling(),
    seed: int = 0,
    max_steps: int | None = None,
    progress: Callable[[int], None] | None = None,
    *,
    seeds: Sequence[int] | None = None,
    prefixes: Sequence[Sequence[str]] | None = None,
    icl_messages: Sequence[dict[str, str]] = (),
) -> list[Trajectory]:
    """Play one episode per task id with ``policy`` and return the trajectories (in task order).

    - ``seed`` (or ``seeds``, one per episode) seeds the policy's sampling together with the task
      id and step index, so any episode re-runs alone to the same result; the same task may
      appear several times with different seeds (Monte-Carlo rollouts).
    - ``prefixes[i]`` is a list of replies replayed verbatim in episode i before the policy takes
      over: e.g. an expert trajectory's ``step.text`` (its thoughts stay in the history), or
      ``"Action: click[buy now]"`` for a bare action. A malformed reply replays as a malformed step.
    - ``icl_messages``: in-context example turns placed after the task description and "OK".
    - ``max_steps`` caps every episode (default: the environment's budget); replayed steps count.
    - ``progress`` is called with the number of episodes that just finished.
    - ``make_env``: a factory, or an :class:`EnvPool` whose environments are reused (and given back);
      environments built for a factory are closed when the call returns.
    - An environment class may set ``max_live_episodes`` (ScienceWorld: one JVM per environment):
      then at most that many episodes are in flight, the next starting, in task order, in the
      environment an ended one gives back. Episodes depend only on their task, seed and prefix, so
      the results are the same; only the batches ``act`` sees are smaller.
    """
    n = len(task_ids)
    seeds = [seed] * n if seeds is None else list(seeds)
    prefixes = [()] * n if prefixes is None else list(prefixes)
    if len(seeds) != n or len(prefixes) != n:
        raise ValueError(f"got {n} task ids but {len(seeds)} seeds and {len(prefixes)} prefixes; give one per episode")
    pool = EnvPool.of(make_env)
    live: list[_Live | None] = [None] * n
    replayed: dict[tuple[str, tuple[str, ...]], _Live] = {}
    cap: int | None = None  # the environments' max_live_episodes, read from the first one built
    admitted = 0
    running: list[_Live] = []

    def admit() -> int:
        """Start episodes in task order while the cap allows; returns how many ended at once (prefix)."""
        nonlocal admitted, cap
        ended = 0
        while admitted < n and (cap is None or len(running) < cap):
            tid, s, prefix = task_ids[admitted], seeds[admitted], prefixes[admitted]
            twin = replayed.get((tid, tuple(prefix))) if prefix else None
            if twin is not None:
                x = _fork(twin, s)
            else:
                x = _start(pool, tid, s, max_steps, icl_messages)
                cap = getattr(x.env, "max_live_episodes", None) if admitted == 0 else cap
                _replay(x, prefix)
                if prefix and hasattr(x.env, "fork") and not x.done:
                    replayed[(tid, tuple(prefix))] = x
            live[admitted] = x
            admitted += 1
            if x.done:
                ended += 1
                _retire(x)
            else:
                running.append(x)
        return ended

    def _retire(x: _Live) -> None:
        # A capped environment (one JVM each, say) goes back to the pool as soon as its episode
        # ends, for the next episode to start in; uncapped ones are released at the end as before.
        if cap is not None:
            for key in [k for k, v in replayed.items() if v is x]:
                del replayed[key]
            pool.release(x.env, x.view.task.task_id)

    ended = admit()
    if progress and ended:
        progress(ended)
    while running:
        active = list(running)
        replies = policy.act([x.view for x in active], sampling)
        if len(replies) != len(active):
            raise RuntimeError(f"policy '{policy.name}' answered {len(replies)} of {len(active)} episodes")
        for x, reply in zip(active, replies, strict=True):
            if isinstance(reply, ContextOverflow):
                x.done, x.stop_reason = True, "context_overflow"
            else:
                _apply(x, reply, replayed=False)
        finished = [x for x in active if x.done]
        for x in finished:
            running.remove(x)
            _retire(x)
        finished_count = len(finished) + admit()
        if progress and finished_count:
            progress(finished_count)
    if cap is None:
        for x in live:
            pool.release(x.env, x.view.task.task_id)
    if pool is not make_env:  # a pool made here for a factory: its environments end with the call
        pool.close()
    return [_trajectory(x, policy.name) for x in live]  # type: ignore[arg-type]


def _start(pool: EnvPool, task_id: str, seed: int, max_steps: int | None, icl: Sequence[dict[str, str]]) -> _Live:
    env = pool.acquire(task_id)
    obs = env.reset(task_id)
    task = env.task(task_id)
    view = EpisodeView(
        task=task, messages=build_messages(env.env_id, obs, icl_messages=icl), env=env, step_index=0, seed=seed
    )
    return _Live(env, view, obs, [], budget=max_steps or env.max_steps)


def _fork(x: _Live, seed: int) -> _Live:
    """A new episode in the state ``x`` reached after its replayed prefix, with its own sampling seed."""
    view = replace(x.view, messages=[dict(m) for m in x.view.messages], env=x.env.fork(), seed=seed,
                   scratch=dict(x.view.scratch))
    return _Live(view.env, view, x.initial, list(x.steps), x.budget, x.done, x.stop_reason)


def _replay(x: _Live, prefix: Sequence[str]) -> None:
    for k, reply in enumerate(prefix):
        if x.done:
            raise ValueError(
                f"task {x.view.task.task_id}: the prefix has {len(prefix)} replies but the episode ended "
                f"({x.stop_reason}) after {k}; replay at most the steps before the episode's end"
            )
        _apply(x, reply, replayed=True)


def _apply(x: _Live, reply: str, replayed: bool) -> None:
    """Send one reply's action to the environment (or answer a malformed reply) and record the step."""
    _, action = parse_react(reply)
    extra = {"replayed": True} if replayed else {}
    if action is None:
        step = Step(text=reply, action=None, observation=INVALID_FORMAT, info=extra)
    else:
        r = x.env.step(action)
        step = Step(
            text=reply, action=action, observation=r.observation, reward=r.reward, done=r.done, info={**r.info, **extra}
        )
    x.steps.append(step)
    x.view.messages.extend(
        [{"role": "assistant", "content": reply}, {"role": "user", "content": observation_turn(step.observation)}]
    )
    x.view.step_index += 1
    if step.done and not step.info.get("truncated"):
        x.done, x.stop_reason = True, "done"
    elif len(x.steps) >= x.budget or step.done:
        x.done, x.stop_reason = True, "max_steps"


def _trajectory(x: _Live, policy_name: str) -> Trajectory:
    final = final_reward_of(x.steps, x.stop_reason)
    return Trajectory(
        env_id=x.env.env_id,
        env_version=x.env.version,
        task_id=x.view.task.task_id,
        instruction=x.view.task.instruction,
        initial_observation=x.initial,
        steps=tuple(x.steps),
        final_reward=float(final),
        stop_reason=x.stop_reason,  # type: ignore[arg-type]
        policy=policy_name,
        seed=x.view.seed,
        success_threshold=x.env.success_threshold,
    )
