"""The multi-episode rollout engine: many episodes in flight, one batched ``act`` call per step.

Each episode owns an environment instance (cheap: instances share the loaded world). At every
step the replies of all live episodes come from one ``policy.act`` call; replies without a
parsable ``Action:`` get an "invalid format" observation and use up a step, as in IPR/ETO.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from harness.envs.base import Environment
from harness.policies.base import EpisodeView, Policy, Sampling
from harness.prompting import INVALID_FORMAT, build_messages, parse_react
from harness.types import Step, Trajectory


@dataclass
class _Live:
    env: Environment
    view: EpisodeView
    initial: str
    steps: list[Step]
    done: bool = False
    stop_reason: str = ""


def run_episodes(
    make_env: Callable[[], Environment],
    task_ids: Sequence[str],
    policy: Policy,
    sampling: Sampling = Sampling(),
    seed: int = 0,
    max_steps: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[Trajectory]:
    """Play one episode per task id with ``policy`` and return the trajectories (in task order).

    ``seed`` is combined with each task id so any episode re-runs alone to the same result.
    ``progress`` is called with the number of episodes that just finished.
    """
    live: list[_Live] = []
    for tid in task_ids:
        env = make_env()
        obs = env.reset(tid)
        task = env.task(tid)
        view = EpisodeView(task=task, messages=build_messages(env.env_id, obs), env=env, step_index=0, seed=seed)
        live.append(_Live(env, view, obs, []))
    budget = {id(x): (max_steps or x.env.max_steps) for x in live}
    while True:
        active = [x for x in live if not x.done]
        if not active:
            break
        replies = policy.act([x.view for x in active], sampling)
        finished = 0
        for x, reply in zip(active, replies, strict=True):
            _, action = parse_react(reply)
            if action is None:
                step = Step(text=reply, action=None, observation=INVALID_FORMAT)
            else:
                r = x.env.step(action)
                step = Step(text=reply, action=action, observation=r.observation, reward=r.reward, done=r.done, info=r.info)
            x.steps.append(step)
            x.view.messages.extend(
                [{"role": "assistant", "content": reply}, {"role": "user", "content": f"Observation:\n{step.observation}"}]
            )
            x.view.step_index += 1
            if step.done and not step.info.get("truncated"):
                x.done, x.stop_reason = True, "done"
            elif len(x.steps) >= budget[id(x)] or step.done:
                x.done, x.stop_reason = True, "max_steps"
            finished += x.done
        if progress and finished:
            progress(finished)
    return [_trajectory(x, policy.name, seed) for x in live]


def _trajectory(x: _Live, policy_name: str, seed: int) -> Trajectory:
    final = x.steps[-1].reward if x.stop_reason == "done" else 0.0
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
        seed=seed,
        success_threshold=x.env.success_threshold,
    )
