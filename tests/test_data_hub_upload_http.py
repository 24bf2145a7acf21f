"""Publishing to the Hub, tested at the HTTP level against a fake Hub on 127.0.0.1.

No real Hub is reachable here and olah (the Hub-protocol server used for downloads) has no upload
endpoints, so these tests check what ``HubRegistry`` sends over HTTP: the repo creation, one commit
holding every file (payload decoded and compared byte for byte), the tag on that commit, and what
happens when the server refuses. The fake Hub also serves what it received, so a download through
the same client must return exactly the published revision.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from harness.data.build import BuildConfig, build
from harness.data.errors import PublishError
from harness.data.folder import load_split, read_manifest


class FakeHub:
    """The Hub API endpoints a publish and a download use, with repos held in memory."""

    def __init__(self) -> None:
        self.commits: dict[str, list[tuple[str, dict[str, bytes]]]] = {}  # repo -> [(sha, files)]
        self.tags: dict[str, dict[str, str]] = {}
        self.requests: list[tuple[str, str]] = []
        self.fail_commit = False
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def files_at(self, repo: str, rev: str) -> tuple[str, dict[str, bytes]] | None:
        sha = self.tags.get(repo, {}).get(rev, rev)
        history = self.commits.get(repo, [])
        if rev == "main" and history:
            return history[-1]
        return next((c for c in history if c[0] == sha), None)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _send(self, code: int, body: bytes | dict | None = None, headers: dict | None = None) -> None:
                data = json.dumps(body).encode() if isinstance(body, dict) else (body or b"")
                self.send_response(code)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            def _body(self) -> bytes:
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def do_HEAD(self) -> None:
                self.do_GET()

            def do_GET(self) -> None:
                hub.requests.append((self.command, self.path))
                parts = self.path.split("?")[0].strip("/").split("/")
                if parts[:2] == ["api", "datasets"] and parts[4] == "refs":
                    repo = "/".join(parts[2:4])
                    if repo not in hub.commits:
                        return self._send(404, {"error": "Repository not found"}, {"X-Error-Code": "RepoNotFound"})
                    branches = (
                        [{"name": "main", "ref": "refs/heads/main", "targetCommit": hub.commits[repo][-1][0]}]
                        if hub.commits[repo]
                        else []
                    )
                    tags = [{"name": t, "ref": f"refs/tags/{t}", "targetCommit": c} for t, c in hub.tags[repo].items()]
                    return self._send(200, {"branches": branches, "tags": tags, "converts": []})
                if parts[:2] == ["api", "datasets"] and parts[4] == "revision":
                    repo, rev = "/".join(parts[2:4]), parts[5]
                    found = hub.files_at(repo, rev) if repo in hub.commits else None
                    if repo not in hub.commits:
                        return self._send(404, {"error": "Repository not found"}, {"X-Error-Code": "RepoNotFound"})
                    if found is None and not (rev == "main" and not hub.commits[repo]):
                        return self._send(404, {"error": "Revision not found"}, {"X-Error-Code": "RevisionNotFound"})
                    sha, files = found or ("0" * 40, {})
                    return self._send(200, {"id": repo, "sha": sha, "siblings": [{"rfilename": f} for f in files]})
                if parts[0] == "datasets" and parts[3] == "resolve":
                    repo, rev, path = "/".join(parts[1:3]), parts[4], "/".join(parts[5:])
                    found = hub.files_at(repo, rev)
                    if found is None or path not in found[1]:
                        return self._send(404, {"error": "Entry not found"}, {"X-Error-Code": "EntryNotFound"})
                    data = found[1][path]
                    etag = hashlib.sha256(data).hexdigest()
                    return self._send(
                        200, data, {"X-Repo-Commit": found[0], "ETag": f'"{etag}"', "Content-Type": "application/octet-stream"}
                    )
                self._send(404, {"error": f"not faked: GET {self.path}"})

            def do_POST(self) -> None:
                hub.requests.append((self.command, self.path))
                parts, body = self.path.split("?")[0].strip("/").split("/"), self._body()
                if parts == ["api", "repos", "create"]:
                    payload = json.loads(body)
                    repo = f"{payload['organization']}/{payload['name']}" if payload.get("organization") else payload["name"]
                    hub.commits.setdefault(repo, [])
                    hub.tags.setdefault(repo, {})
                    return self._send(200, {"url": f"{hub.url}/datasets/{repo}"})
                if parts == ["api", "validate-yaml"]:
                    return self._send(200, {})
                repo, action = "/".join(parts[2:4]), parts[4]
                if action == "preupload":
                    files = json.loads(body)["files"]
                    return self._send(
                        200, {"files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False} for f in files]}
                    )
                if action == "commit":
                    if hub.fail_commit:
                        return self._send(500, {"error": "storage unavailable"})
                    lines = [json.loads(line) for line in body.decode().splitlines() if line.strip()]
                    header = next(x["value"] for x in lines if x["key"] == "header")
                    history = hub.commits[repo]
                    if history and header.get("parentCommit") not in (None, history[-1][0]):
                        return self._send(412, {"error": "A commit has happened since. Please refresh and try again."})
                    files = dict(history[-1][1]) if history else {}
                    for x in lines:
                        if x["key"] == "file":
                            files[x["value"]["path"]] = base64.b64decode(x["value"]["content"])
                    sha = hashlib.sha1(
                        json.dumps(sorted((k, hashlib.sha256(v).hexdigest()) for k, v in files.items())).encode()
                        + str(len(history)).encode()
                    ).hexdigest()
                    history.append((sha, files))
                    return self._send(200, {"commitUrl": f"{hub.url}/datasets/{repo}/commit/{sha}", "commitOid": sha})
                if action == "tag":
                    tag = json.loads(body)["tag"]
                    if tag in hub.tags[repo]:
                        return self._send(409, {"error": "tag exists"})
                    hub.tags[repo][tag] = parts[5]
                    return self._send(200, {})
                self._send(404, {"error": f"not faked: POST {self.path}"})

        return Handler


@pytest.fixture
def fake_hub(monkeypatch):
    """A fake Hub on a free local port; the client may talk to it (only to it) for this test."""
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)  # 127.0.0.1 only
    hub = FakeHub()
    yield hub
    hub.server.shutdown()


@pytest.fixture
def folder(tmp_path, small_catalog):
    out = tmp_path / "ds"
    build(BuildConfig(split="valid", limit=3, env_kwargs={"data": str(small_catalog)}), out)
    return out


def _registry(hub: FakeHub, tmp_path: Path):
    from harness.data.hub_registry import HubRegistry

    return HubRegistry(endpoint=hub.url, token="hf_fake", cache_dir=tmp_path / "hf-cache")


def test_http_publish_sends_one_commit_with_every_file_then_the_tag(fake_hub, folder, tmp_path):
    pub = _registry(fake_hub, tmp_path).publish(folder, "acme/webshop", tag="v1")
    sha, files = fake_hub.commits["acme/webshop"][-1]
    assert pub.commit == sha and fake_hub.tags["acme/webshop"] == {"v1": sha}
    parquet = "expert_trajectories/valid-00000-of-00001.parquet"
    assert files[parquet] == (folder / parquet).read_bytes()
    assert json.loads(files["manifest.json"])["dataset_hash"] == read_manifest(folder)["dataset_hash"]
    assert files["README.md"].decode().startswith("---\n")
    posts = [p.split("?")[0] for m, p in fake_hub.requests if m == "POST"]
    assert posts.index("/api/datasets/acme/webshop/commit/main") < posts.index(f"/api/datasets/acme/webshop/tag/{sha}")
    assert sum("/commit/" in p for p in posts) == 1


def test_http_publish_v2_then_download_v1_returns_exactly_v1(fake_hub, folder, tmp_path, small_catalog):
    reg = _registry(fake_hub, tmp_path)
    v1 = reg.publish(folder, "acme/webshop", tag="v1")
    build(BuildConfig(split="valid", limit=5, env_kwargs={"data": str(small_catalog)}), folder, append=True)
    v2 = reg.publish(folder, "acme/webshop", tag="v2")
    assert v1.dataset_hash != v2.dataset_hash
    out = reg.download("acme/webshop", "expert_trajectories", "valid", "v1", tmp_path / "got")
    entry = read_manifest(out)["splits"]["expert_trajectories/valid"]
    assert entry["content_hash"] == v1.splits["expert_trajectories/valid"] and entry["num_rows"] == 3
    assert entry["source"]["commit"] == v1.commit


def test_http_publish_refused_commit_leaves_no_release(fake_hub, folder, tmp_path):
    fake_hub.fail_commit = True
    with pytest.raises(PublishError, match="nothing was published"):
        _registry(fake_hub, tmp_path).publish(folder, "acme/webshop", tag="v1")
    assert fake_hub.commits["acme/webshop"] == [] and fake_hub.tags["acme/webshop"] == {}


def test_http_publish_existing_tag_is_refused_before_any_commit(fake_hub, folder, tmp_path):
    reg = _registry(fake_hub, tmp_path)
    reg.publish(folder, "acme/webshop", tag="v1")
    with pytest.raises(PublishError, match="tag 'v1' already exists"):
        reg.publish(folder, "acme/webshop", tag="v1")
    assert len(fake_hub.commits["acme/webshop"]) == 1


def test_http_download_of_a_whole_revision_or_a_config_is_exactly_that_revision(
    fake_hub, folder, tmp_path, small_catalog
):
    from harness.data.errors import UnknownNameError

    reg = _registry(fake_hub, tmp_path)
    catalog = {"data": str(small_catalog)}
    build(BuildConfig(split="valid", config="tasks", limit=4, env_kwargs=catalog), folder)
    v1_rows = {k: load_split(folder, *k.split("/")).to_list() for k in ("expert_trajectories/valid", "tasks/valid")}
    v1 = reg.publish(folder, "acme/webshop", tag="v1")
    build(BuildConfig(split="valid", limit=5, env_kwargs=catalog), folder, append=True)
    build(BuildConfig(split="test", config="tasks", limit=2, env_kwargs=catalog), folder)
    v2 = reg.publish(folder, "acme/webshop", tag="v2")

    got = reg.download_splits("acme/webshop", "v1", tmp_path / "all")
    assert got.commit == v1.commit and sorted(got.splits) == sorted(v1_rows)  # nothing of v2
    assert read_manifest(tmp_path / "all")["splits"].keys() == v1_rows.keys()
    for key, rows in v1_rows.items():
        assert load_split(tmp_path / "all", *key.split("/")).to_list() == rows
        assert got.splits[key]["source"]["commit"] == v1.commit
    tasks = reg.download_splits("acme/webshop", "v2", tmp_path / "tasks", config="tasks")
    assert sorted(tasks.splits) == ["tasks/test", "tasks/valid"] and tasks.commit == v2.commit
    unknown_config = r"unknown config 'pairs' in dataset repo acme/webshop at revision v2 on .*Known: expert_trajectories, tasks"
    with pytest.raises(UnknownNameError, match=unknown_config):
        reg.download_splits("acme/webshop", "v2", tmp_path / "none", config="pairs")
    assert not (tmp_path / "none").exists()
