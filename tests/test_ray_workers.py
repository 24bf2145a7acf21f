"""Rollouts on Ray workers (a local cluster here): the same rows as in one process, a killed worker
costs its chunk only, and a chunk that keeps failing stops the stage naming its task ids."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
from miniature import mini_catalog  # noqa: F401 (fixture)

from harness.envs.pool import env_factory
from harness.execution.executor import Executor
from harness.execution.settings import ExecutionSettings
from harness.policies import Sampling
from harness.rewards.monte_carlo import plan_rollouts
from harness.rollout import EpisodeSpec

ray = pytest.importorskip("ray", reason="the Ray path needs the ray extra: pip install -e '.[ray]'")
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def make_env(small_catalog):
    return env_factory("webshop", data=str(small_catalog), nouns="heuristic")


@pytest.fixture(scope="module")
def cluster():
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def specs(make_env):
    """Explore-like episodes from expert prefixes, then the Monte-Carlo rollouts of their steps."""
    from harness.policies.scripted import ExpertPolicy
    from harness.rollout import run_episodes

    experts = run_episodes(make_env, make_env().task_ids("test")[:6], ExpertPolicy(), seed=0)
    explore = [EpisodeSpec(t.task_id, 42, tuple(s.text for s in t.steps[:j])) for t in experts for j in range(2)]
    mc = plan_rollouts([(t, j) for t in experts for j in range(len(t.steps))], 3, 42, 10).specs
    return explore + mc


def test_two_workers_play_the_same_rows_as_one_process(tmp_path, make_env, specs, tiny_model, cluster):
    sampling = Sampling(temperature=1.0, max_new_tokens=12)
    here = Executor(ExecutionSettings(), make_env, label_root=tiny_model.parent)
    rows = here.rollouts(tmp_path / "one", specs, str(tiny_model), sampling, chunk_size=16)
    spread = Executor(ExecutionSettings(workers=2), make_env, label_root=tiny_model.parent, log=lambda m: None)
    assert spread.rollouts(tmp_path / "two", specs, str(tiny_model), sampling, chunk_size=16) == rows
    assert len(rows) == len(specs) and len({tuple(map(str, r["steps"])) for r in rows}) > 1  # sampled, not all alike
    assert Executor.served(tmp_path / "two")["backend"] == "transformers"


def test_workers_prompt_with_the_recipes_in_context_examples(tmp_path, make_env, specs, tiny_model, cluster):
    """prompt.icl reaches the Ray workers: the same rows as one process with the examples, not those without."""
    sampling = Sampling(temperature=1.0, max_new_tokens=12)
    part = specs[:8]
    example = [{"role": "user", "content": "Observation:\nexample"}, {"role": "assistant", "content": "Thought: x\nAction: click[x]"},
               {"role": "user", "content": "That was an example. Now a new task."}, {"role": "assistant", "content": "OK"}]  # fmt: skip
    here = Executor(ExecutionSettings(), make_env, icl_messages=example).rollouts(tmp_path / "one", part, str(tiny_model),
                                                                                sampling, chunk_size=4)  # fmt: skip
    spread = Executor(ExecutionSettings(workers=2), make_env, log=lambda m: None, icl_messages=example)
    assert spread.rollouts(tmp_path / "two", part, str(tiny_model), sampling, chunk_size=4) == here
    zero_shot = Executor(ExecutionSettings(), make_env).rollouts(tmp_path / "zero", part, str(tiny_model), sampling, chunk_size=4)
    assert [r["steps"] for r in zero_shot] != [r["steps"] for r in here]


def test_vllm_engines_on_two_workers_play_the_same_rows_as_one_engine(tmp_path, make_env, specs, tiny_model, cluster):
    from harness.policies.vllm import INSTALL_HINT, vllm_available

    if not vllm_available():
        pytest.skip(f"the vLLM path needs vllm: {INSTALL_HINT}")
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")  # GiB per engine; the workers inherit it
    sampling = Sampling(temperature=1.0, max_new_tokens=12)
    part = specs[:48]
    settings = ExecutionSettings(backend="vllm")
    rows = Executor(settings, make_env).rollouts(tmp_path / "one", part, str(tiny_model), sampling, chunk_size=16)
    spread = Executor(ExecutionSettings(backend="vllm", workers=2), make_env, log=lambda m: None)
    assert spread.rollouts(tmp_path / "two", part, str(tiny_model), sampling, chunk_size=16) == rows
    assert Executor.served(tmp_path / "two")["backend"] == "vllm"


def test_a_worker_killed_mid_stage_costs_its_chunk_only(tmp_path, make_env, specs, tiny_model, cluster):
    sampling = Sampling(temperature=1.0, max_new_tokens=12)
    reference = Executor(ExecutionSettings(), make_env).rollouts(tmp_path / "ref", specs, str(tiny_model), sampling,
                                                                 chunk_size=8)  # fmt: skip
    logs: list[str] = []
    killed: list[int] = []

    finished = threading.Event()

    def kill_one_playing_worker():
        while not finished.is_set() and not killed:
            ps = subprocess.run(["ps", "-eo", "pid,args"], check=False, capture_output=True, text=True).stdout
            pids = [int(line.split()[0]) for line in ps.splitlines()
                    if "ray::RolloutWorker.play" in line and _descends_from(int(line.split()[0]), os.getpid())]  # fmt: skip
            if pids:
                os.kill(pids[0], signal.SIGKILL)
                killed.append(pids[0])
            time.sleep(0.05)

    killer = threading.Thread(target=kill_one_playing_worker)
    killer.start()
    executor = Executor(ExecutionSettings(workers=2), make_env, log=logs.append)
    try:
        rows = executor.rollouts(tmp_path / "two", specs, str(tiny_model), sampling, chunk_size=8)
    finally:
        finished.set()
        killer.join()
    assert killed, "no worker was seen playing"
    assert rows == reference
    assert any("its worker died" in m and "retrying" in m for m in logs), logs


def _descends_from(pid: int, ancestor: int) -> bool:
    """Whether process ``pid`` was started (through any chain) by ``ancestor``: a worker of this test's
    own Ray cluster, not of another Ray job on the machine."""
    while pid > 1:
        try:
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            return False
        if pid == ancestor:
            return True
    return False


def test_a_chunk_failing_three_times_stops_the_stage_naming_its_tasks(tmp_path, make_env, tiny_model, cluster):
    from harness.execution.ray_workers import ChunkFailed

    specs = [EpisodeSpec("no-such-task", 0)] + [EpisodeSpec(str(k), 0) for k in range(3, 10)]
    logs: list[str] = []
    executor = Executor(ExecutionSettings(workers=2), make_env, log=logs.append)
    with pytest.raises(ChunkFailed, match=r"chunk 0 \(task ids 3, no-such-task\) failed 3 times.*unknown WebShop task id"):
        executor.rollouts(tmp_path / "bad", specs, str(tiny_model), Sampling(max_new_tokens=4), chunk_size=2)
    # the chunk in flight beside it landed before the stage stopped: a resume does not play it again
    assert (tmp_path / "bad" / "chunk-00001.jsonl").exists()
    assert sum("retrying" in m for m in logs) == 2


def _same_data(one, two, stages=("iter1/explore/explored.jsonl", "iter1/estimate/step_rewards.jsonl",
                                 "iter1/pairs/pairs.jsonl", "eval_best_test/trajectories.jsonl")):  # fmt: skip
    from harness.execution.checkpoints import read_jsonl

    for name in stages:
        a, b = read_jsonl(one / name), read_jsonl(two / name)
        assert a == b, f"{name} differs between 1 and 2 workers"
    assert read_jsonl(one / "iter1/estimate/step_rewards.jsonl")  # something was estimated


def test_reproduce_ipr_webshop_on_two_workers_gives_the_same_data(tmp_path, mini_catalog, cluster, monkeypatch):  # noqa: F811 (fixture)
    import json

    from miniature import mini_args, run_dir

    from harness.cli import main

    monkeypatch.setenv("HARNESS_REGISTRY", str(tmp_path / "registry"))
    assert main(mini_args(mini_catalog, tmp_path / "one")) == 0
    assert main(mini_args(mini_catalog, tmp_path / "two", extra={"execution.workers": 2})) == 0
    one, two = run_dir(tmp_path / "one"), run_dir(tmp_path / "two")
    assert one.name == two.name  # the worker count is not part of the run's identity
    _same_data(one, two)
    manifest = json.loads((two / "iter1" / "estimate" / "manifest.json").read_text())
    assert manifest["execution"]["workers"] == 2 and manifest["execution"]["ray_version"] == ray.__version__
    results = json.loads((two / "eval_best_test" / "results.json").read_text())
    assert results["provenance"]["execution"]["workers"] == 2 and results["provenance"]["policy"]["backend"] == "transformers"


def test_reproduce_ipr_alfworld_on_two_workers_gives_the_same_data(tmp_path, cluster, monkeypatch):
    from miniature import require_alfworld, run_dir
    from test_reproduce_other_envs import reproduce

    require_alfworld()
    monkeypatch.setenv("HARNESS_REGISTRY", str(tmp_path / "registry"))
    extra = {"model.corpus_tasks": 4, "data.train_tasks": 4, "data.explore_tasks": 2, "env.max_steps": 8, "estimate.n": 2}
    assert reproduce("ipr-alfworld", tmp_path / "one", extra) == 0
    assert reproduce("ipr-alfworld", tmp_path / "two", {**extra, "execution.workers": 2}) == 0
    _same_data(run_dir(tmp_path / "one", "ipr-alfworld"), run_dir(tmp_path / "two", "ipr-alfworld"))


@contextlib.contextmanager
def _head_node(auth_mode: str):
    """A `ray start --head --block` cluster of its own (stopped by signalling its process group, so
    no other Ray job on the machine is touched); yields its address."""
    import socket
    import sys

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ray_cli = str(Path(sys.executable).with_name("ray"))
    head = subprocess.Popen([ray_cli, "start", "--head", "--block", f"--port={port}", "--num-cpus=2",
                             "--include-dashboard=false", "--disable-usage-stats"],
                            env={**os.environ, "RAY_AUTH_MODE": auth_mode}, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        deadline = time.time() + 120
        while time.time() < deadline:  # the head's GCS listens on the port once it is up
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.5)
        time.sleep(3)  # the raylet registers just after the GCS
        yield f"127.0.0.1:{port}"
    finally:
        ray.shutdown()
        os.killpg(head.pid, signal.SIGTERM)
        head.wait(timeout=60)


def test_rollouts_join_a_running_cluster_by_its_address(tmp_path, make_env, specs, tiny_model):
    """`ray start --head` in another process (as on another machine), then execution.ray_address."""
    if ray.is_initialized():
        ray.shutdown()  # this test's driver joins the external cluster instead
    # the head authenticates as this process does (token mode once a local cluster ran here)
    with _head_node(os.environ.get("RAY_AUTH_MODE", "disabled")) as address:
        sampling = Sampling(temperature=1.0, max_new_tokens=12)
        part = specs[:32]
        rows = Executor(ExecutionSettings(), make_env).rollouts(tmp_path / "here", part, str(tiny_model), sampling, chunk_size=8)
        joined = Executor(ExecutionSettings(workers=2, ray_address=address), make_env, log=lambda m: None)
        assert joined.rollouts(tmp_path / "there", part, str(tiny_model), sampling, chunk_size=8) == rows
        assert ray.get_runtime_context().gcs_address.endswith(address.rsplit(":", 1)[1])  # joined, not started its own


def test_a_cluster_asking_for_a_token_is_named_with_the_fix():
    from harness.execution.ray_workers import _about_authentication

    try:
        try:
            raise RuntimeError("RPC error: InvalidAuthToken: Authentication token is missing or incorrect")
        except RuntimeError as e:
            raise ConnectionError("Failed to connect to Ray cluster at 10.0.0.1:6379") from e
    except ConnectionError as e:
        assert _about_authentication(e)
    assert not _about_authentication(ConnectionError("Failed to connect to Ray cluster at 10.0.0.1:6379"))


def test_a_worker_lost_to_memory_is_named_and_retried_like_a_dead_one():
    """Ray's memory monitor kills a worker with OutOfMemoryError (not an actor error): it is a lost
    worker to replace and retry, said in words, never a traceback."""
    from harness.execution.ray_workers import worker_failure

    oom = ray.exceptions.OutOfMemoryError("1 worker(s) were killed due to the node running low on memory")
    assert "ran out of memory" in worker_failure(oom) and "fewer execution.workers" in worker_failure(oom)
    assert worker_failure(ray.exceptions.ActorDiedError()) == "its worker died (ActorDiedError)"
    assert worker_failure(ray.exceptions.NodeDiedError("node 1 died")) == "its worker died (NodeDiedError)"
