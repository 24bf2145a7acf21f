"""The local registry: a folder of dataset repos laid out as on the Hub, each a git repository.

``<root>/datasets/<org>/<name>/`` is a git repo whose working tree shows the latest revision (the
Hub's layout: ``README.md``, ``manifest.json``, ``<config>/<split>-*.parquet``); its commits and tags
are the revisions. The same folder can be served read-only as a Hub by ``olah`` (mirrors-path =
``<root>``).

Publishing is atomic: the new revision is committed and tagged in a private clone, then pushed
with ``git push --atomic`` (a new repo is built aside and renamed into place). A failure at any
point leaves the registry as it was.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from harness.data.errors import PublishError, unknown
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

# Used only when git has no identity configured (e.g. a CI container); signing is off because a
# registry commit must not depend on the user's keys.
_FALLBACK_IDENTITY = ["-c", "user.name=harness", "-c", "user.email=harness@localhost"]
_NO_SIGNING = ["-c", "commit.gpgsign=false", "-c", "tag.gpgsign=false", "-c", "tag.forceSignAnnotated=false"]


class GitError(RuntimeError):
    """A git command that failed; carries its stderr."""


def git(args: list[str], cwd: Path, input: bytes | None = None) -> bytes:
    """Run ``git args`` in ``cwd`` and return stdout; raise :class:`GitError` with stderr on failure."""
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}
    proc = subprocess.run(["git", *args], cwd=cwd, input=input, capture_output=True, env=env, check=False)
    if proc.returncode != 0:
        raise GitError(proc.stderr.decode("utf-8", "replace").strip() or f"git {args[0]} exited with {proc.returncode}")
    return proc.stdout


def _author(cwd: Path) -> list[str]:
    """No options when git knows who the user is; a fallback identity otherwise."""
    probe = subprocess.run(["git", "config", "user.email"], cwd=cwd, capture_output=True, check=False)
    return [] if probe.stdout.strip() else _FALLBACK_IDENTITY


class LocalRegistry(Registry):
    """Dataset repos as git repositories under ``root/datasets``; no account, no network."""

    kind = "local"

    def __init__(self, root: Path):
        self.root = Path(root).absolute()

    def __repr__(self) -> str:
        return f"local registry {self.root}"

    # --- naming ------------------------------------------------------------------------------
    def repo_path(self, repo: str) -> Path:
        """Where ``repo`` lives on disk (it may not exist yet)."""
        org, name = check_repo_id(repo).split("/")
        return self.root / "datasets" / org / name

    def _existing(self, repo: str) -> Path:
        path = self.repo_path(repo)
        if not (path / ".git").exists():
            raise unknown(
                "dataset repo", repo, self.list_repos(), f"the {self!r}", "Publish it first with `harness data publish`."
            )
        return path

    def list_repos(self, owner: str | None = None) -> list[str]:
        """Repos under ``root/datasets`` (of ``owner`` when given), sorted."""
        base = self.root / "datasets"
        if not base.is_dir():
            return []
        found = [f"{o.name}/{r.name}" for o in base.iterdir() if o.is_dir() for r in o.iterdir() if (r / ".git").exists()]
        return sorted(r for r in found if owner is None or r.split("/")[0] == owner)

    # --- reading -----------------------------------------------------------------------------
    def _refs(self, path: Path) -> tuple[dict[str, str], dict[str, str]]:
        out = git(["for-each-ref", "--format=%(refname) %(objectname) %(*objectname)", "refs/heads", "refs/tags"], path)
        branches, tags = {}, {}
        for line in out.decode().splitlines():
            ref, obj, peeled = (line.split(" ") + [""])[:3]
            if ref.startswith("refs/heads/"):
                branches[ref[len("refs/heads/") :]] = obj
            else:
                tags[ref[len("refs/tags/") :]] = peeled or obj
        return branches, tags

    def resolve(self, repo: str, revision: str = "main") -> str:
        """The commit of ``revision`` (tag, branch, full or short commit id) of ``repo``."""
        path = self._existing(repo)
        try:
            return git(["rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}"], path).decode().strip()
        except GitError:
            branches, tags = self._refs(path)
            raise unknown(
                "revision", revision, [*branches, *tags], f"dataset repo {repo}", "Use a tag, a branch or a commit id."
            ) from None

    def _blob(self, repo: str, commit: str, rel: str, revision: str) -> bytes:
        try:
            return git(["cat-file", "blob", f"{commit}:{rel}"], self.repo_path(repo))
        except GitError:
            raise FileNotFoundError(f"{rel} is not in dataset repo {repo} at revision {revision} ({commit[:12]})") from None

    def read_text(self, repo: str, path: str, revision: str = "main") -> str:
        """``path`` of ``repo`` at ``revision`` as text."""
        return self._blob(repo, self.resolve(repo, revision), path, revision).decode("utf-8")

    def info(self, repo: str) -> RepoInfo:
        """Branches, tags (peeled to commits) and the splits at ``main``."""
        branches, tags = self._refs(self._existing(repo))
        manifest = self.manifest(repo, "main") if "main" in branches else {"splits": {}}
        return RepoInfo(repo, branches, tags, {k: e["num_rows"] for k, e in manifest["splits"].items()})

    @property
    def location(self) -> str:
        """The registry's folder."""
        return str(self.root)

    def fetch_file(self, repo: str, path: str, commit: str, revision: str, scratch: Path) -> Path:
        """``path`` of ``repo`` at ``commit``, copied out of git into ``scratch``."""
        out = Path(scratch) / path
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(self._blob(repo, commit, path, revision))
        return out

    # --- publishing --------------------------------------------------------------------------
    def publish(self, folder: Path, repo: str, tag: str | None = None, message: str | None = None) -> Published:
        """Commit ``folder``'s splits into ``repo`` (created when new) and tag the commit ``tag``."""
        check_tag(tag)
        final = self.repo_path(repo)
        exists = (final / ".git").exists()
        if exists and tag and tag in self._refs(final)[1]:
            raise PublishError(f"tag '{tag}' already exists in dataset repo {repo}: releases are immutable; choose a new tag")
        staging_root = self.root / ".staging"
        staging_root.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix="publish-", dir=staging_root))
        try:
            if exists:
                git(["clone", "--quiet", str(final), str(work)], staging_root)
                existing = (
                    parse_manifest((work / MANIFEST).read_text(encoding="utf-8"), f"{MANIFEST} of {repo}")
                    if (work / MANIFEST).exists()
                    else None
                )
            else:
                git(["init", "--quiet", "--initial-branch=main", str(work)], staging_root)
                git(["config", "receive.denyCurrentBranch", "updateInstead"], work)
                existing = None
            files, manifest, card = stage_publish(Path(folder), existing, repo)
            for rel, src in files.items():
                (work / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src, work / rel)
            (work / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
            (work / CARD).write_text(card, encoding="utf-8")
            git(["add", "--all"], work)
            written = {split_key(e["config"], e["split"]): e for e in manifest["splits"].values() if set(e["files"]) & set(files)}
            changed = subprocess.run(["git", "diff", "--cached", "--quiet"], cwd=work, check=False).returncode != 0
            if not changed and not (exists and tag):
                raise PublishError(
                    f"nothing to publish: {folder} holds exactly what {repo} has at main; add rows or splits first"
                )
            if changed:
                git(
                    [*_author(work), *_NO_SIGNING, "-c", "core.hooksPath=/dev/null", "commit", "--quiet", "-F", "-"],
                    work,
                    input=(message or commit_message(written, manifest, tag)).encode(),
                )
            if tag:
                git(
                    [*_author(work), *_NO_SIGNING, "tag", "-a", tag, "-m", f"{repo} {tag}: dataset {manifest['dataset_hash']}"],
                    work,
                )
            commit = git(["rev-parse", "HEAD"], work).decode().strip()
            self._land(work, final, exists, tag, repo)
        except GitError as e:
            raise PublishError(f"publishing {folder} to {repo} failed, nothing was published: {e}") from None
        finally:
            shutil.rmtree(work, ignore_errors=True)
            with contextlib.suppress(OSError):
                staging_root.rmdir()  # only when empty: another publish may be under way
        return Published(
            repo, commit, tag, manifest["dataset_hash"], str(final), {k: e["content_hash"] for k, e in written.items()}
        )

    def _land(self, work: Path, final: Path, exists: bool, tag: str | None, repo: str) -> None:
        """Make the prepared revision visible in one step: an atomic push, or a rename for a new repo."""
        if exists:
            refs = ["HEAD:refs/heads/main"] + ([f"refs/tags/{tag}"] if tag else [])
            git(["push", "--atomic", "--quiet", "origin", *refs], work)
            return
        final.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(work, 0o755)  # mkdtemp makes it private; a registry is read by other tools (olah)
        try:
            os.rename(work, final)
        except OSError as e:
            raise PublishError(f"could not create dataset repo {repo} at {final} ({e}); nothing was published") from None
