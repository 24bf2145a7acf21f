"""The OpenAI-compatible endpoint policy, against a small local fake of the chat-completions API."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from harness.envs import make_env
from harness.policies import ContextOverflow, Sampling, make_policy
from harness.policies.api import chat_completions_url
from harness.rollout import run_episodes


class FakeServer(BaseHTTPRequestHandler):
    """Replies ``search[<seed>]`` on the first turn and buys on the second; too-long prompts get a 400."""

    requests: list[dict] = []

    def do_POST(self):  # noqa: N802 (http.server's naming)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        FakeServer.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), **body})
        text = json.dumps(body["messages"])
        if "OVERFLOW" in text:
            return self._send(400, {"error": {"message": "This model's maximum context length is 64 tokens."}})
        if body["model"] != "tiny":
            return self._send(404, {"error": {"message": f"The model `{body['model']}` does not exist."}})
        turn = sum(m["role"] == "assistant" for m in body["messages"]) - 1  # minus the "OK" turn
        reply = (
            f"Thought: go.\nAction: search[{body['seed']}]" if turn == 0 else "Thought: done.\nAction: click[< prev]"
        )
        usage = {"prompt_tokens": len(text) // 4, "completion_tokens": 7}
        self._send(200, {"choices": [{"message": {"role": "assistant", "content": reply}}], "usage": usage})

    def _send(self, status, payload):
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server_url():
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeServer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()


def webshop():
    return make_env("webshop")


def test_urls_normalise_to_chat_completions():
    assert chat_completions_url("http://h:8000") == "http://h:8000/v1/chat/completions"
    assert chat_completions_url("http://h:8000/v1/") == "http://h:8000/v1/chat/completions"
    assert chat_completions_url("https://h/v1/chat/completions") == "https://h/v1/chat/completions"


def test_episodes_run_against_the_endpoint_with_per_episode_seeds(server_url, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    FakeServer.requests.clear()
    policy = make_policy(f"openai:{server_url}#tiny")
    tasks = webshop().task_ids("test")[:3]
    trajs = run_episodes(webshop, tasks, policy, Sampling(temperature=0.7, max_new_tokens=32), max_steps=2, seed=9)
    assert [t.stop_reason for t in trajs] == ["max_steps"] * 3
    first = FakeServer.requests[0]
    assert first["path"] == "/v1/chat/completions" and first["auth"] == "Bearer sk-test"
    assert (first["temperature"], first["max_tokens"], first["messages"][1]) == (
        0.7,
        32,
        {"role": "assistant", "content": "OK"},
    )
    seeds = [t.steps[0].action for t in trajs]
    assert len(set(seeds)) == 3  # each episode its own seed...
    again = run_episodes(webshop, tasks[1:2], policy, Sampling(temperature=0.7, max_new_tokens=32), max_steps=2, seed=9)
    assert again[0] == trajs[1]  # ...which depends only on (seed, task, step)
    assert policy.stats.generated_tokens == 7 * len(FakeServer.requests)


def test_a_rejected_long_prompt_is_a_context_overflow(server_url):
    policy = make_policy(f"openai:{server_url}#tiny")
    prefix = ["Thought: OVERFLOW\nAction: search[x]"]
    trajs = run_episodes(webshop, webshop().task_ids("test")[:1], policy, prefixes=[prefix])
    assert trajs[0].stop_reason == "context_overflow" and policy.stats.overflows == 1
    assert isinstance(policy.act([], Sampling()), list)


def test_server_errors_name_the_server_and_the_task(server_url):
    policy = make_policy(f"openai:{server_url}#missing")
    with pytest.raises(RuntimeError, match=r"answered HTTP 404 for task \d+ step 0: .*does not exist"):
        run_episodes(webshop, webshop().task_ids("test")[:1], policy)


def test_an_unreachable_server_is_reported_after_retries():
    policy = make_policy("openai:http://127.0.0.1:9/v1#tiny", retries=0, timeout=2)
    with pytest.raises(RuntimeError, match="cannot reach the server.*is the server running"):
        policy.act([_view()], Sampling())


def _view():
    from harness.policies import EpisodeView
    from harness.prompting import build_messages

    env = webshop()
    tid = env.task_ids("test")[0]
    return EpisodeView(env.task(tid), build_messages("webshop", env.reset(tid)), env, 0, 0)


def test_overflow_marker_is_a_string():
    assert isinstance(ContextOverflow("x"), str)
