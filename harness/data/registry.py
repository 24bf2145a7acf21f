"""One registry interface for versioned datasets, with a local (git) and a Hub backend.

A registry holds dataset repos named ``ORG/NAME``. A repo revision is a commit; releases are tags.
Each revision has the layout of a dataset folder (:mod:`harness.data.folder`): ``manifest.json``,
``README.md`` (the card) and ``<config>/<split>-00000-of-00001.parquet``. Publishing a folder adds
or replaces its splits and keeps the repo's other splits. Downloading fetches a whole revision, one
config or one split, all from the one commit the revision resolves to, and verifies every split
before anything is written to the output folder.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.data.errors import CorruptFileError, DataError
from harness.data.folder import (
    MANIFEST,
    empty_manifest,
    load_split,
    parse_manifest,
    read_manifest,
    select_splits,
    verify_folder,
    write_manifest,
)
from harness.data.hashing import dataset_hash
from harness.locations import datasets_cache

if TYPE_CHECKING:
    import datasets

CARD = "README.md"
_REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*$")
_TAG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")


@dataclass(frozen=True)
class Published:
    """What a publish created: the commit (and tag) holding the new revision."""

    repo: str
    commit: str
    tag: str | None
    dataset_hash: str
    location: str
    splits: dict[str, str] = field(default_factory=dict)
    """``config/split`` -> content hash, for the splits this publish wrote."""


@dataclass(frozen=True)
class Downloaded:
    """What a download wrote: splits of one revision of a repo, all from one commit."""

    repo: str
    revision: str
    commit: str
    """The commit ``revision`` resolved to."""
    folder: Path
    """The dataset folder the splits were written into."""
    splits: dict[str, dict[str, Any]] = field(default_factory=dict)
    """``config/split`` -> manifest entry (rows, content hash, files, source) of each split written."""


@dataclass(frozen=True)
class RepoInfo:
    """A repo's revisions and the splits at its head."""

    repo: str
    branches: dict[str, str]
    tags: dict[str, str]
    """tag -> commit."""
    splits: dict[str, int]
    """``config/split`` -> rows, at ``main``."""


def check_repo_id(repo: str) -> str:
    """Return ``repo`` if it has the form ``ORG/NAME``, else raise an error saying so."""
    if not _REPO_ID.match(repo or ""):
        raise DataError(
            f"invalid dataset repo name '{repo}': use ORG/NAME (letters, digits, '-', '_', '.'), e.g. harness/webshop"
        )
    return repo


def check_tag(tag: str | None) -> str | None:
    """Return ``tag`` if it is usable as a release name (``v1``, ``2024.1``...), else raise."""
    if tag is None:
        return None
    if not _TAG.match(tag) or tag == "main" or re.fullmatch(r"[0-9a-f]{7,40}", tag):
        raise DataError(f"invalid tag '{tag}': use a release name such as v1 or v2.1 (not 'main', not a commit id)")
    return tag


def stage_publish(folder: Path, existing: dict[str, Any] | None, repo: str) -> tuple[dict[str, Path], dict[str, Any], str]:
    """Verify ``folder`` and merge it into the repo's ``existing`` manifest.

    Returns (files to write: repo path -> local file, the merged manifest, the card text). Raises
    before anything is written when the folder does not verify (schema, ids, hashes, damaged files).
    """
    from harness.data.cards import render_card

    new = verify_folder(Path(folder))
    merged = empty_manifest() if existing is None else {**existing, "splits": dict(existing["splits"])}
    files: dict[str, Path] = {}
    for key, entry in new["splits"].items():
        entry = {k: v for k, v in entry.items() if k != "source"}
        merged["splits"][key] = entry
        for rel in entry["files"]:
            files[rel] = Path(folder) / rel
    merged["splits"] = {k: merged["splits"][k] for k in sorted(merged["splits"])}
    merged["dataset_hash"] = dataset_hash({k: v["content_hash"] for k, v in merged["splits"].items()})
    return files, merged, render_card(merged, repo)


def commit_message(published_splits: dict[str, Any], manifest: dict[str, Any], tag: str | None) -> str:
    """A commit message naming the release, the splits written and their hashes."""
    head = f"Publish {tag}" if tag else "Publish"
    lines = [f"{head}: {', '.join(published_splits)} (dataset {manifest['dataset_hash'][:16]})", ""]
    lines += [f"{k}: {e['num_rows']} rows, content hash {e['content_hash']}" for k, e in published_splits.items()]
    return "\n".join(lines) + "\n"


def finish_download(
    output: Path, manifest: dict[str, Any], fetched: dict[str, Path], source: dict[str, Any], where: str
) -> dict[str, dict[str, Any]]:
    """Verify fetched split files in a staging folder, then add them to dataset folder ``output``.

    ``fetched`` maps ``config/split`` keys of ``manifest`` (the revision's manifest) to the parquet
    files received for them. Nothing is written to ``output`` unless every file verifies; splits
    already in ``output`` that were not fetched are kept. Returns the entries written (with ``source``).
    """
    output = Path(output)
    entries = {key: {**manifest["splits"][key], "source": source} for key in fetched}
    if output.exists() and any(output.iterdir()) and not (output / MANIFEST).exists():
        raise DataError(f"output folder {output} is not empty and is not a dataset folder; choose an empty or new folder")
    created = not output.exists()
    output.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".download-", dir=output))
    try:
        for key, path in fetched.items():
            (rel,) = entries[key]["files"]
            (staging / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, staging / rel)
        write_manifest(staging, {**empty_manifest(), "splits": entries})
        try:
            for entry in entries.values():  # raises, naming the file, when anything is off
                load_split(staging, entry["config"], entry["split"], verify=True, label=where)
        except Exception:
            shutil.rmtree(staging, ignore_errors=True)
            if created:
                shutil.rmtree(output, ignore_errors=True)
            raise
        target = read_manifest(output) if (output / MANIFEST).exists() else empty_manifest()
        for key, entry in entries.items():
            (rel,) = entry["files"]
            (output / rel).parent.mkdir(parents=True, exist_ok=True)
            os.replace(staging / rel, output / rel)
            target["splits"][key] = entry
        write_manifest(output, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return entries


class Registry(ABC):
    """Publish, download, list and describe versioned dataset repos."""

    kind: str

    @abstractmethod
    def publish(self, folder: Path, repo: str, tag: str | None = None, message: str | None = None) -> Published:
        """Publish dataset folder ``folder`` into ``repo`` as a new commit, tagged ``tag`` when given.

        A failed publish leaves no new revision behind."""

    @abstractmethod
    def resolve(self, repo: str, revision: str = "main") -> str:
        """The commit id of ``revision`` (tag, branch or commit) of ``repo``."""

    @abstractmethod
    def fetch_file(self, repo: str, path: str, commit: str, revision: str, scratch: Path) -> Path:
        """A local copy of file ``path`` of ``repo`` at ``commit`` (resolved from ``revision``, which
        names it in errors), possibly written under folder ``scratch``. Raises ``FileNotFoundError``
        when the commit has no such file."""

    @property
    @abstractmethod
    def location(self) -> str:
        """Where the registry is (a folder or an endpoint), as recorded in a download's ``source``."""

    def describe(self, repo: str, revision: str) -> str:
        """``repo`` at ``revision`` in the words of error messages."""
        return f"dataset repo {repo} at revision {revision}"

    def download_splits(
        self,
        repo: str,
        revision: str = "main",
        output: Path | None = None,
        config: str | None = None,
        split: str | None = None,
    ) -> Downloaded:
        """Fetch ``repo`` at ``revision`` into dataset folder ``output``, verified.

        Without ``config`` and ``split``: every split of every config (the whole revision); with
        ``config`` only: every split of it; with both: that split. The revision is resolved to one
        commit first, so every split comes from the same commit, and nothing is written to ``output``
        unless every split verifies (checksum, schema, row ids, content hash).
        """
        if split is not None and config is None:
            raise DataError(f"--split {split} needs --config: name both, only the config, or neither for the whole revision")
        commit = self.resolve(repo, revision)
        where = self.describe(repo, revision)
        output = Path(output or Path.cwd() / repo.replace("/", "__"))
        with tempfile.TemporaryDirectory(prefix="harness-fetch-") as tmp:
            try:
                text = self.fetch_file(repo, MANIFEST, commit, revision, Path(tmp)).read_text(encoding="utf-8")
            except FileNotFoundError:
                raise CorruptFileError(f"{where} has no {MANIFEST}: it was not published by harness") from None
            manifest = parse_manifest(text, f"{MANIFEST} of {where}")
            chosen = select_splits(manifest, config, split, where)
            fetched = {
                key: self.fetch_file(repo, rel, commit, revision, Path(tmp)) for key, e in chosen.items() for rel in e["files"]
            }
            source = {"registry": self.kind, "location": self.location, "repo": repo, "revision": revision, "commit": commit}
            splits = finish_download(output, manifest, fetched, source, where)
        return Downloaded(repo, revision, commit, output, splits)

    def download(self, repo: str, config: str, split: str, revision: str = "main", output: Path | None = None) -> Path:
        """Fetch ``config``/``split`` of ``repo`` at ``revision`` into dataset folder ``output``, verified."""
        return self.download_splits(repo, revision, output, config, split).folder

    @abstractmethod
    def read_text(self, repo: str, path: str, revision: str = "main") -> str:
        """A text file of ``repo`` at ``revision`` (e.g. the card, ``README.md``)."""

    @abstractmethod
    def list_repos(self, owner: str | None = None) -> list[str]:
        """Names of the dataset repos (of ``owner`` when given)."""

    @abstractmethod
    def info(self, repo: str) -> RepoInfo:
        """Branches, tags and the splits at ``main`` of ``repo``."""

    def card(self, repo: str, revision: str = "main") -> str:
        """The data card (``README.md``) of ``repo`` at ``revision``."""
        return self.read_text(repo, CARD, revision)

    def manifest(self, repo: str, revision: str = "main") -> dict[str, Any]:
        """The manifest of ``repo`` at ``revision``."""
        return parse_manifest(self.read_text(repo, MANIFEST, revision), f"{MANIFEST} of {repo}@{revision}")

    def load(self, repo: str, config: str, split: str, revision: str = "main", cache_dir: Path | None = None) -> datasets.Dataset:
        """``config``/``split`` of ``repo`` at ``revision`` as a verified ``datasets.Dataset`` (cached by commit)."""
        commit = self.resolve(repo, revision)
        out = Path(cache_dir or datasets_cache()) / repo / commit
        try:
            return load_split(out, config, split)
        except (DataError, FileNotFoundError):
            self.download(repo, config, split, commit, out)
            return load_split(out, config, split)

