"""Data cards generated from the data: the Hub's README format (YAML front matter + prose).

The front matter declares the configs and their ``data_files`` (so ``datasets.load_dataset`` finds
each split), ``dataset_info`` (features and row counts), license, size category and task categories.
The prose says what the dataset holds, how every split was produced (command, recipe, config hash,
env version, seeds, code version), its content hashes and its limits. :func:`validate_card` checks
all of it, and against a manifest when one is given.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from harness.data.errors import CardError
from harness.data.folder import split_key
from harness.data.schema import CONFIGS, schema_differences

LICENSE = "mit"
KNOWN_LICENSES = ("mit", "apache-2.0", "cc-by-4.0", "cc-by-sa-4.0", "cc-by-nc-4.0", "cc0-1.0", "other")
TASK_CATEGORIES = ("text-generation", "reinforcement-learning")
KNOWN_TASK_CATEGORIES = TASK_CATEGORIES + ("text-classification", "question-answering", "text2text-generation")
SIZE_BUCKETS: tuple[tuple[int, str], ...] = (
    (1_000, "n<1K"),
    (10_000, "1K<n<10K"),
    (100_000, "10K<n<100K"),
    (1_000_000, "100K<n<1M"),
    (10_000_000, "1M<n<10M"),
    (100_000_000, "10M<n<100M"),
    (1_000_000_000, "100M<n<1B"),
)
REQUIRED_KEYS = ("license", "pretty_name", "language", "size_categories", "task_categories", "configs", "dataset_info")
REQUIRED_SECTIONS = ("## What it holds", "## How it was produced", "## Content hashes", "## Limits", "## Use")
_FRONT_MATTER = re.compile(r"\A---\n(.*?)\n---\n(.*)\Z", re.DOTALL)


def size_category(n_rows: int) -> str:
    """The Hub's size category for ``n_rows`` examples (the largest config's rows)."""
    for bound, name in SIZE_BUCKETS:
        if n_rows < bound:
            return name
    return "n>1B"


def _config_rows(manifest: dict[str, Any]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for e in manifest["splits"].values():
        out.setdefault(e["config"], {})[e["split"]] = e["num_rows"]
    return {c: out[c] for c in CONFIGS if c in out}


def card_metadata(manifest: dict[str, Any], repo: str, license: str = LICENSE) -> dict[str, Any]:
    """The card's YAML front matter as a dict, derived from ``manifest`` only."""
    from datasets import DatasetInfo, SplitDict, SplitInfo
    from datasets.info import DatasetInfosDict
    from huggingface_hub import DatasetCardData

    from harness.data.folder import split_file
    from harness.data.schema import features_for

    rows = _config_rows(manifest)
    envs = sorted({p["env_id"] for e in manifest["splits"].values() for p in e["provenance"] if p.get("env_id")})
    card = DatasetCardData(
        license=license,
        pretty_name=repo,
        language=["en"],
        size_categories=[size_category(max((sum(s.values()) for s in rows.values()), default=0))],
        task_categories=list(TASK_CATEGORIES),
        tags=["agents", "process-supervision", "harness", *envs],
        configs=[
            {
                "config_name": c,
                "data_files": [{"split": s, "path": split_file(c, s).replace("-00000-of-00001", "-*")} for s in sorted(splits)],
            }
            for c, splits in rows.items()
        ],
    )
    infos = {}
    for c, splits in rows.items():
        sd = SplitDict()
        for s in sorted(splits):
            sd.add(SplitInfo(name=s, num_examples=splits[s]))
        infos[c] = DatasetInfo(features=features_for(c), splits=sd, config_name=c)
    DatasetInfosDict(infos).to_dataset_card_data(card)
    return card.to_dict()


def render_card(manifest: dict[str, Any], repo: str, license: str = LICENSE) -> str:
    """The full card (front matter + prose) for dataset ``repo`` described by ``manifest``."""
    from harness.data.card_prose import render_prose

    meta = yaml.safe_dump(card_metadata(manifest, repo, license), sort_keys=False, allow_unicode=True, width=1000)
    return f"---\n{meta}---\n\n{render_prose(manifest, repo)}"


def parse_card(text: str, where: str) -> tuple[dict[str, Any], str]:
    """Split a card into (front matter dict, prose); a missing or broken front matter raises."""
    m = _FRONT_MATTER.match(text)
    if m is None:
        raise CardError(where, ["no YAML front matter: the card must start with '---', the YAML, then '---'"])
    try:
        meta = yaml.safe_load(m.group(1))
    except yaml.YAMLError as e:
        raise CardError(where, [f"the front matter is not valid YAML: {e}"]) from None
    if not isinstance(meta, dict):
        raise CardError(where, ["the front matter is not a YAML mapping"])
    return meta, m.group(2)


def validate_card(text: str, where: str, manifest: dict[str, Any] | None = None) -> dict[str, Any]:
    """Check a card and return its front matter; raise :class:`CardError` listing every problem.

    Checks: required keys; license, size and task categories from the Hub's vocabularies; every config
    a known artifact type with ``data_files`` under its own folder; ``dataset_info`` features equal to
    harness's schema and splits equal to the ``data_files``; the size category matching the row
    counts; the prose sections. With ``manifest``: the same configs, splits, row counts and hashes.
    """
    meta, prose = parse_card(text, where)
    problems = [f"missing front-matter key '{k}'" for k in REQUIRED_KEYS if k not in meta]
    if meta.get("license") is not None and meta["license"] not in KNOWN_LICENSES:
        problems.append(f"license '{meta['license']}' is not one of {', '.join(KNOWN_LICENSES)}")
    bad_tasks = [t for t in meta.get("task_categories") or [] if t not in KNOWN_TASK_CATEGORIES]
    if bad_tasks:
        problems.append(f"unknown task_categories {bad_tasks}; use Hub task ids such as {', '.join(TASK_CATEGORIES)}")
    declared = _declared_splits(meta.get("configs") or [], problems)
    rows = _dataset_info_rows(meta, declared, problems)
    if rows is not None and "size_categories" in meta:
        expected = size_category(max((sum(s.values()) for s in rows.values()), default=0))
        if meta["size_categories"] != [expected]:
            problems.append(f"size_categories is {meta['size_categories']} but the rows ({rows}) make it ['{expected}']")
    problems += [f"missing prose section '{s}'" for s in REQUIRED_SECTIONS if s not in prose]
    if manifest is not None:
        problems += _against_manifest(rows or {}, prose, manifest)
    if problems:
        raise CardError(where, problems)
    return meta


def _declared_splits(configs: Any, problems: list[str]) -> dict[str, list[str]]:
    declared: dict[str, list[str]] = {}
    if not isinstance(configs, list) or not configs:
        problems.append("'configs' must be a non-empty list of {config_name, data_files}")
        return declared
    for entry in configs:
        name = entry.get("config_name") if isinstance(entry, dict) else None
        if name not in CONFIGS:
            problems.append(f"config '{name}' is not an artifact type ({', '.join(CONFIGS)})")
            continue
        files = entry.get("data_files")
        if not isinstance(files, list) or not files:
            problems.append(f"config '{name}' has no data_files list")
            continue
        for f in files:
            if not isinstance(f, dict) or "split" not in f or "path" not in f:
                problems.append(f"config '{name}': every data_files entry needs 'split' and 'path' (got {f!r})")
            elif not str(f["path"]).startswith(f"{name}/") or not str(f["path"]).endswith(".parquet"):
                problems.append(f"config '{name}', split '{f['split']}': path '{f['path']}' must be {name}/<split>-*.parquet")
            else:
                declared.setdefault(name, []).append(f["split"])
    return declared


def _dataset_info_rows(
    meta: dict[str, Any], declared: dict[str, list[str]], problems: list[str]
) -> dict[str, dict[str, int]] | None:
    from datasets.info import DatasetInfosDict
    from huggingface_hub import DatasetCardData

    if "dataset_info" not in meta:
        return None
    try:
        infos = DatasetInfosDict.from_dataset_card_data(DatasetCardData(dataset_info=meta["dataset_info"]))
    except Exception as e:  # datasets raises assorted errors on malformed YAML features
        problems.append(f"dataset_info cannot be read by datasets: {type(e).__name__}: {e}")
        return None
    rows: dict[str, dict[str, int]] = {}
    for name, splits in declared.items():
        info = infos.get(name)
        if info is None:
            problems.append(f"config '{name}' has no dataset_info entry")
            continue
        problems += [f"dataset_info of '{name}': {p}" for p in schema_differences(info.features, name)]
        recorded = {s: i.num_examples for s, i in (info.splits or {}).items()}
        if sorted(recorded) != sorted(splits):
            problems.append(
                f"config '{name}': dataset_info splits {sorted(recorded)} differ from data_files splits {sorted(splits)}"
            )
        rows[name] = recorded
    return rows


def _against_manifest(rows: dict[str, dict[str, int]], prose: str, manifest: dict[str, Any]) -> list[str]:
    problems = []
    expected = _config_rows(manifest)
    if rows != expected:
        problems.append(f"the card lists rows {rows} but the data has {expected}")
    if manifest["dataset_hash"] not in prose:
        problems.append(f"the card does not state the data's dataset hash {manifest['dataset_hash']}")
    for key, e in manifest["splits"].items():
        if e["content_hash"] not in prose:
            problems.append(f"the card does not state the content hash of {split_key(e['config'], e['split'])} ({key})")
    return problems
