"""The Hugging Face Hub backend: the same interface over ``huggingface_hub`` (any Hub-protocol server).

Publishing is one Hub commit holding every file (the Hub applies a commit whole or not at all),
made against the parent commit the manifest was read from, then a tag on that commit. Downloads
resolve the revision to a commit first, so every file comes from the same revision.
The endpoint is ``endpoint`` or ``HF_ENDPOINT`` (e.g. a local ``olah`` server); the token is the
usual ``HF_TOKEN`` / ``hf auth login``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from harness.data.errors import DataError, PublishError, UnknownNameError, unknown
from harness.data.folder import MANIFEST, parse_manifest, split_key
from harness.data.registry import (
    CARD,
    Published,
    Registry,
    RepoInfo,
    check_repo_id,
    check_tag,
    commit_message,
    stage_publish,
)

T = TypeVar("T")
REPO_TYPE = "dataset"


class HubRegistry(Registry):
    """Dataset repos on a Hub-protocol server, through ``huggingface_hub``."""

    kind = "hub"

    def __init__(self, endpoint: str | None = None, token: str | None = None, cache_dir: str | Path | None = None):
        from huggingface_hub import HfApi, constants

        self.endpoint = (endpoint or constants.ENDPOINT).rstrip("/")
        self.api = HfApi(endpoint=self.endpoint, token=token)
        self.token = token
        self.cache_dir = str(cache_dir) if cache_dir else None
        """Where downloaded files are cached (default: the Hugging Face cache, ``HF_HOME``)."""

    def __repr__(self) -> str:
        return f"Hub registry {self.endpoint}"

    def _call(self, what: str, fn: Callable[[], T], repo: str, revision: str | None = None) -> T:
        """Run a Hub call, turning the Hub's errors into errors that say what to do."""
        from huggingface_hub import errors

        try:
            return fn()
        except errors.LocalEntryNotFoundError as e:  # offline, or the server could not be reached
            raise DataError(
                f"cannot {what}: {self.endpoint} could not be reached (or HF_HUB_OFFLINE=1) and no cached copy exists. "
                f"Check the endpoint and network, or use --registry local. ({e})"
            ) from None
        except errors.EntryNotFoundError:
            raise
        except (errors.RevisionNotFoundError, errors.RepositoryNotFoundError) as e:
            # Some servers (olah) answer an unknown revision with "repository not found": ask for the refs.
            known = self._ref_names(repo) if revision is not None else []
            if isinstance(e, errors.RevisionNotFoundError) or known:
                raise unknown(
                    "revision",
                    str(revision),
                    known,
                    f"dataset repo {repo} on {self.endpoint}",
                    "Use a tag, a branch or a commit id.",
                ) from None
            raise UnknownNameError(
                f"unknown dataset repo '{repo}' on {self.endpoint}: it does not exist, or it is private and no token "
                "was given (set HF_TOKEN). Check the name, or use --registry local for the local registry."
            ) from None
        except errors.OfflineModeIsEnabled:
            raise DataError(
                f"cannot {what}: HF_HUB_OFFLINE=1 is set. Unset it to reach {self.endpoint}, or use --registry local."
            ) from None
        except errors.HfHubHTTPError as e:
            raise DataError(f"could not {what} ({repo} on {self.endpoint}): {e}") from None
        except OSError as e:  # connection refused, DNS, TLS: httpx errors are not OSErrors, see below
            raise DataError(f"cannot {what}: {self.endpoint} could not be reached ({type(e).__name__}: {e})") from None
        except Exception as e:
            if type(e).__module__.startswith(("httpx", "httpcore")):
                raise DataError(f"cannot {what}: {self.endpoint} could not be reached ({type(e).__name__}: {e})") from None
            raise

    def _ref_names(self, repo: str) -> list[str]:
        try:
            refs = self.api.list_repo_refs(repo, repo_type=REPO_TYPE)
        except Exception:  # the listing is only for the error message
            return []
        return [b.name for b in refs.branches] + [t.name for t in refs.tags]

    @property
    def location(self) -> str:
        """The Hub endpoint."""
        return self.endpoint

    def describe(self, repo: str, revision: str) -> str:
        """``repo`` at ``revision`` on this endpoint, in the words of error messages."""
        return f"{super().describe(repo, revision)} on {self.endpoint}"

    def fetch_file(self, repo: str, path: str, commit: str, revision: str, scratch: Path | None = None) -> Path:
        """``path`` of ``repo`` at ``commit``, in the Hugging Face cache (``scratch`` is not used)."""
        from huggingface_hub import errors, hf_hub_download

        try:
            return Path(
                self._call(
                    f"download {path}",
                    lambda: hf_hub_download(
                        repo,
                        path,
                        repo_type=REPO_TYPE,
                        revision=commit,
                        endpoint=self.endpoint,
                        token=self.token,
                        cache_dir=self.cache_dir,
                    ),
                    repo,
                    revision,
                )
            )
        except errors.EntryNotFoundError:
            raise FileNotFoundError(
                f"{path} is not in dataset repo {repo} at revision {revision} ({commit[:12]}) on {self.endpoint}"
            ) from None

    # --- reading -----------------------------------------------------------------------------
    def resolve(self, repo: str, revision: str = "main") -> str:
        """The commit id of ``revision`` of ``repo`` on the Hub."""
        check_repo_id(repo)
        info = self._call(
            "resolve the revision", lambda: self.api.repo_info(repo, repo_type=REPO_TYPE, revision=revision), repo, revision
        )
        return str(info.sha)

    def read_text(self, repo: str, path: str, revision: str = "main") -> str:
        """``path`` of ``repo`` at ``revision`` as text."""
        return self.fetch_file(repo, path, self.resolve(repo, revision), revision).read_text(encoding="utf-8")

    def list_repos(self, owner: str | None = None) -> list[str]:
        """Dataset repos of ``owner`` (required: the Hub is too large to list whole)."""
        if not owner:
            raise DataError("listing the Hub needs an owner: `harness data list --registry hub --owner ORG`, or name a repo")
        found = self._call("list datasets", lambda: list(self.api.list_datasets(author=owner)), owner)
        return sorted(d.id for d in found)

    def info(self, repo: str) -> RepoInfo:
        """Branches, tags and the splits at ``main``."""
        refs = self._call("list revisions", lambda: self.api.list_repo_refs(repo, repo_type=REPO_TYPE), repo)
        manifest = self.manifest(repo, "main")
        return RepoInfo(
            repo,
            {b.name: b.target_commit for b in refs.branches},
            {t.name: t.target_commit for t in refs.tags},
            {k: e["num_rows"] for k, e in manifest["splits"].items()},
        )

    # --- publishing --------------------------------------------------------------------------
    def _current(self, repo: str) -> tuple[str | None, dict[str, Any] | None, set[str]]:
        """(head commit, manifest at head or None, tag names) of an existing or new repo."""
        self._call("create the repo", lambda: self.api.create_repo(repo, repo_type=REPO_TYPE, exist_ok=True), repo)
        refs = self._call("list revisions", lambda: self.api.list_repo_refs(repo, repo_type=REPO_TYPE), repo)
        info = self._call("read the repo", lambda: self.api.repo_info(repo, repo_type=REPO_TYPE, revision="main"), repo, "main")
        names = {s.rfilename for s in (info.siblings or [])}
        manifest = None
        if MANIFEST in names:
            text = self.fetch_file(repo, MANIFEST, str(info.sha), "main").read_text(encoding="utf-8")
            manifest = parse_manifest(text, f"{MANIFEST} of {repo}@main")
        return (str(info.sha) if info.sha else None), manifest, {t.name for t in refs.tags}

    def publish(self, folder: Path, repo: str, tag: str | None = None, message: str | None = None) -> Published:
        """One Hub commit with the folder's splits, the merged manifest and the card; then the tag."""
        from huggingface_hub import CommitOperationAdd, errors

        check_repo_id(repo)
        check_tag(tag)
        try:
            head, existing, tags = self._current(repo)
        except DataError as e:
            raise PublishError(f"cannot publish to {repo} on {self.endpoint}, nothing was published: {e}") from None
        if tag and tag in tags:
            raise PublishError(
                f"tag '{tag}' already exists in dataset repo {repo} on {self.endpoint}: releases are immutable; choose a new tag"
            )
        files, manifest, card = stage_publish(Path(folder), existing, repo)
        written = {split_key(e["config"], e["split"]): e for e in manifest["splits"].values() if set(e["files"]) & set(files)}
        import json

        ops = [CommitOperationAdd(rel, str(src)) for rel, src in files.items()]
        ops.append(CommitOperationAdd(MANIFEST, (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode("utf-8")))
        ops.append(CommitOperationAdd(CARD, card.encode("utf-8")))
        text = message or commit_message(written, manifest, tag)
        try:
            info = self.api.create_commit(
                repo, ops, commit_message=text.splitlines()[0], commit_description=text, repo_type=REPO_TYPE, parent_commit=head
            )
        except errors.HfHubHTTPError as e:
            raise PublishError(f"the Hub refused the commit to {repo} on {self.endpoint}, nothing was published: {e}") from None
        commit = str(info.oid)
        if tag:
            try:
                self.api.create_tag(
                    repo,
                    tag=tag,
                    revision=commit,
                    tag_message=f"{repo} {tag}: dataset {manifest['dataset_hash']}",
                    repo_type=REPO_TYPE,
                )
            except errors.HfHubHTTPError as e:
                raise PublishError(
                    f"commit {commit} reached {repo} but tagging it '{tag}' failed ({e}): no release '{tag}' exists. "
                    f"Tag that commit with `hf repo tag create {repo} {tag} --revision {commit} --repo-type dataset`."
                ) from None
        return Published(
            repo,
            commit,
            tag,
            manifest["dataset_hash"],
            f"{self.endpoint}/datasets/{repo}",
            {k: e["content_hash"] for k, e in written.items()},
        )
