"""The command line's small verbs: listing environments, generating a catalog, help."""

from __future__ import annotations

import json
import subprocess
import sys

from harness.cli import main


def test_env_list_names_webshop(capsys):
    assert main(["env", "list"]) == 0
    assert "webshop" in capsys.readouterr().out


def test_data_generate_writes_a_loadable_catalog(tmp_path, capsys):
    out = tmp_path / "cat"
    assert main(["data", "generate", "webshop", "--products", "40", "--goals", "30", "--seed", "2", "--output", str(out)]) == 0
    manifest = json.loads((out / "catalog_manifest.json").read_text())
    assert manifest["products"] == 40 and manifest["seed"] == 2
    from harness.envs.webshop.catalog import load_catalog

    assert len(load_catalog(out).products) == 40
    assert main(["data", "generate", "alfworld", "--output", str(tmp_path / "x")]) == 2
    assert "only webshop" in capsys.readouterr().err


def test_help_starts_without_heavy_imports():
    code = "import sys, harness.cli; harness.cli.build_parser(); print(sorted(m for m in ('torch','transformers','trl','datasets') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"
