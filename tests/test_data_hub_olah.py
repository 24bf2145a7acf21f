"""The real Hub protocol: a local registry served by olah, read with huggingface_hub and datasets.

olah (``olah==0.5.4``, in its own virtualenv: it pins old dependencies) serves the local registry's
git repos read-only as a Hub. Tests find it through ``$OLAH_CLI`` or ``olah-cli`` on PATH and skip
when it is absent. These are the only tests that switch Hub offline mode off, and only to reach
127.0.0.1.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from harness.cli import main
from harness.data.build import BuildConfig, build
from harness.data.errors import PublishError, UnknownNameError
from harness.data.folder import load_split, read_manifest
from harness.data.hashing import split_hash
from harness.data.local_registry import LocalRegistry

OLAH = os.environ.get("OLAH_CLI") or shutil.which("olah-cli")
pytestmark = pytest.mark.skipif(
    OLAH is None,
    reason="olah (Hub-protocol server) not found: install olah==0.5.4 in its own venv and set OLAH_CLI=<venv>/bin/olah-cli",
)
REPO = "acme/webshop"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_until_serving(url: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 60  # readiness wait, not a timing assertion
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"olah exited with {proc.returncode}:\n{log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{url}/api/datasets/{REPO}/refs", timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    pytest.fail(f"olah did not start serving within 60 s:\n{log.read_text()[-2000:]}")


@pytest.fixture(scope="module")
def served(tmp_path_factory, small_catalog):
    """Releases v1 (3 rows) and v2 (5 rows) in a local registry, served by olah."""
    root = tmp_path_factory.mktemp("olah")
    registry = LocalRegistry(root / "registry")
    folder = root / "ds"
    build(BuildConfig(split="valid", limit=3, env_kwargs={"data": str(small_catalog)}), folder)
    v1_rows = load_split(folder, "expert_trajectories", "valid").to_list()
    v1 = registry.publish(folder, REPO, tag="v1")
    build(BuildConfig(split="valid", limit=5, env_kwargs={"data": str(small_catalog)}), folder, append=True)
    v2 = registry.publish(folder, REPO, tag="v2")
    port = _free_port()
    config = root / "olah.toml"
    config.write_text(
        f'[basic]\nhost = "127.0.0.1"\nport = {port}\nmirrors-path = ["{registry.root}"]\n'
        f'repos-path = "{root / "olah-cache"}"\n\n[accessibility]\noffline = true\n'
    )
    log = root / "olah.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([OLAH, "-c", str(config)], stdout=out, stderr=subprocess.STDOUT, cwd=root)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_serving(url, proc, log)
        yield {"url": url, "v1": v1, "v2": v2, "v1_rows": v1_rows, "root": root}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture
def online(monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)  # olah on 127.0.0.1 only


def test_load_dataset_gets_each_release_by_revision(served):
    script = (
        "import json, datasets\n"
        "load = lambda rev: datasets.load_dataset('acme/webshop', 'expert_trajectories', split='valid', revision=rev)\n"
        "out = {rev: load(rev).to_list() for rev in ('v1', 'v2')}\n"
        "print(json.dumps(out))\n"
    )
    env = {
        **os.environ,
        "HF_ENDPOINT": served["url"],
        "HF_HUB_OFFLINE": "0",
        "HF_DATASETS_OFFLINE": "0",
        "HF_HOME": str(served["root"] / "hf-home"),
    }
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["v1"] == served["v1_rows"]
    assert split_hash(got["v1"]) == served["v1"].splits["expert_trajectories/valid"]
    assert split_hash(got["v2"]) == served["v2"].splits["expert_trajectories/valid"] and len(got["v2"]) == 5


def test_hub_registry_download_of_v1_equals_v1(served, online, tmp_path):
    from harness.data.hub_registry import HubRegistry

    hub = HubRegistry(endpoint=served["url"], cache_dir=tmp_path / "hf-cache")
    assert hub.info(REPO).tags == {"v1": served["v1"].commit, "v2": served["v2"].commit}
    out = hub.download(REPO, "expert_trajectories", "valid", "v1", tmp_path / "v1")
    entry = read_manifest(out)["splits"]["expert_trajectories/valid"]
    assert entry["content_hash"] == served["v1"].splits["expert_trajectories/valid"]
    assert entry["source"]["commit"] == served["v1"].commit
    assert load_split(out, "expert_trajectories", "valid").to_list() == served["v1_rows"]


def test_cli_download_through_the_hub_protocol(served, online, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    args = [
        "data",
        "download",
        REPO,
        "--registry",
        "hub",
        "--endpoint",
        served["url"],
        "--config",
        "expert_trajectories",
        "--split",
        "valid",
    ]
    assert main([*args, "--revision", "v1", "--output", str(tmp_path / "v1")]) == 0
    assert served["v1"].splits["expert_trajectories/valid"] in capsys.readouterr().out
    assert main([*args, "--revision", "v7", "--output", str(tmp_path / "v7")]) == 2
    assert "unknown revision 'v7' in dataset repo acme/webshop" in capsys.readouterr().err


def test_unknown_repo_and_read_only_server_are_errors(served, online, tmp_path):
    from harness.data.hub_registry import HubRegistry

    hub = HubRegistry(endpoint=served["url"], cache_dir=tmp_path / "hf-cache")
    with pytest.raises(UnknownNameError, match="unknown dataset repo 'acme/nothing'"):
        hub.download("acme/nothing", "expert_trajectories", "valid", "v1", tmp_path / "x")
    with pytest.raises(PublishError, match="nothing was published.*405"):
        hub.publish(served["root"] / "ds", REPO, tag="v3")


def test_a_whole_revision_through_the_hub_protocol_is_every_split_of_it(served, online, tmp_path):
    from harness.data.hub_registry import HubRegistry

    hub = HubRegistry(endpoint=served["url"], cache_dir=tmp_path / "hf-cache")
    got = hub.download_splits(REPO, "v1", tmp_path / "v1")  # no config, no split: the whole revision
    assert got.commit == served["v1"].commit and list(got.splits) == ["expert_trajectories/valid"]
    assert load_split(tmp_path / "v1", "expert_trajectories", "valid").to_list() == served["v1_rows"]
    assert read_manifest(tmp_path / "v1")["dataset_hash"] == served["v1"].dataset_hash
