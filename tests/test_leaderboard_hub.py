"""`harness submit --registry hub`: a verified entry becomes a pull request on the leaderboard dataset.

A fake Hub on 127.0.0.1 answers the three calls a submission makes (does the entry exist on main,
preupload, commit with ``create_pr=1``) and keeps what it received, so the test can check the
pull request holds exactly the entry file.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from test_leaderboard_submit import _EVAL_SETS, lb_evals  # noqa: F401 (the session fixture of evaluator outputs)

from harness.cli import main

REPO = "acme/leaderboard"


class FakeHub:
    """Just enough of the Hub API for pull requests on one dataset repo."""

    def __init__(self) -> None:
        self.main: dict[str, bytes] = {}
        self.pulls: list[dict[str, bytes]] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _send(self, code: int, body: dict | None = None, headers: dict | None = None) -> None:
                data = json.dumps(body or {}).encode()
                self.send_response(code)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            def do_HEAD(self) -> None:  # file metadata: /datasets/<repo>/resolve/main/<path>
                parts = self.path.split("?")[0].strip("/").split("/")
                repo, path = "/".join(parts[1:3]), "/".join(parts[5:])
                if repo != REPO:
                    return self._send(404, {"error": "Repository not found"}, {"X-Error-Code": "RepoNotFound"})
                if path not in hub.main:
                    return self._send(404, {"error": "Entry not found"}, {"X-Error-Code": "EntryNotFound"})
                self._file(hub.main[path])

            def _file(self, data: bytes) -> None:
                self.send_response(200)
                for k, v in (("Content-Length", str(len(data))), ("X-Repo-Commit", "a" * 40),
                             ("ETag", f'"{hashlib.sha256(data).hexdigest()}"')):  # fmt: skip
                    self.send_header(k, v)
                self.end_headers()
                if self.command == "GET":
                    self.wfile.write(data)

            def do_GET(self) -> None:  # file content: /datasets/<repo>/resolve/main/<path>
                parts = self.path.split("?")[0].strip("/").split("/")
                repo, path = "/".join(parts[1:3]), "/".join(parts[5:])
                if repo != REPO:
                    return self._send(404, {"error": "Repository not found"}, {"X-Error-Code": "RepoNotFound"})
                if path not in hub.main:
                    return self._send(404, {"error": "Entry not found"}, {"X-Error-Code": "EntryNotFound"})
                self._file(hub.main[path])

            def do_POST(self) -> None:
                parts = self.path.split("?")[0].strip("/").split("/")
                repo, action = "/".join(parts[2:4]), parts[4]
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if repo != REPO:
                    return self._send(404, {"error": "Repository not found"}, {"X-Error-Code": "RepoNotFound"})
                if action == "preupload":
                    files = [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False} for f in json.loads(body)["files"]]
                    return self._send(200, {"files": files})
                if action == "commit" and "create_pr=1" in self.path:
                    lines = [json.loads(line) for line in body.decode().splitlines() if line.strip()]
                    hub.pulls.append({x["value"]["path"]: base64.b64decode(x["value"]["content"]) for x in lines if x["key"] == "file"})
                    n = len(hub.pulls)
                    return self._send(200, {"commitUrl": f"{hub.url}/datasets/{REPO}/commit/{n:040d}", "commitOid": f"{n:040d}",
                                            "pullRequestUrl": f"{hub.url}/datasets/{REPO}/discussions/{n}"})  # fmt: skip
                self._send(400, {"error": f"not faked: POST {self.path}"})

        return Handler


@pytest.fixture
def fake_hub(monkeypatch, tmp_path):
    """The fake Hub as the client's endpoint (only 127.0.0.1 is reached)."""
    import huggingface_hub.constants

    hub = FakeHub()
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    # Every fake repo answers commit aaaa...: a shared Hub cache would serve an earlier test's (or run's) files.
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    monkeypatch.setenv("HF_TOKEN", "hf_fake")
    yield hub
    hub.server.shutdown()


def test_a_verified_entry_is_submitted_as_a_pull_request(fake_hub, lb_evals, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["submit", str(lb_evals["expert"]), "--registry", "hub", "--hub-repo", REPO]) == 2
    assert "registers no eval set for environment 'webshop'" in capsys.readouterr().err  # the Hub repo's eval_sets.json decides
    assert fake_hub.pulls == []
    fake_hub.main["eval_sets.json"] = _EVAL_SETS[0].read_bytes()
    assert main(["submit", str(lb_evals["expert"]), "--registry", "hub", "--hub-repo", REPO]) == 0
    out = capsys.readouterr().out
    assert f"stored at {fake_hub.url}/datasets/{REPO}/discussions/1" in out
    (files,) = fake_hub.pulls
    ((path, data),) = files.items()
    entry = json.loads(data)
    assert path == f"entries/{entry['key_hash']}/{entry['entry_id']}.json"
    assert entry["submission"]["verification"]["episodes"] == 4
    assert not (tmp_path / "leaderboard").exists()  # nothing stored locally

    fake_hub.main[path] = data  # the maintainers merged it
    assert main(["submit", str(lb_evals["expert"]), "--registry", "hub", "--hub-repo", REPO]) == 2
    assert f"duplicate entry: {path} is already in {REPO}" in capsys.readouterr().err
    assert len(fake_hub.pulls) == 1


def test_an_unknown_leaderboard_dataset_is_reported(fake_hub, lb_evals, capsys):
    assert main(["submit", str(lb_evals["expert"]), "--registry", "hub", "--hub-repo", "acme/nope"]) == 2
    assert "the leaderboard dataset acme/nope does not exist" in capsys.readouterr().err
