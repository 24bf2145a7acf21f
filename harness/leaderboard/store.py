"""Where accepted entries live: a local leaderboard folder (default) or a Hub dataset (by pull request).

Local layout (``leaderboard/`` in the project, or any folder)::

    schema.json                          the entry schema (written from the package)
    entries/<key-hash>/<entry-id>.json   one accepted entry, created once, read-only, never rewritten
    scores/<key-hash>/<entry-id>.<scorer-hash>.json   action efficiency under a pinned scorer
    scorers.json                         the pinned scorer of each key
    eval_sets.json                       the eval sets and step-cap protocols ranked here (eval_sets.py)
    spot_checks/<entry-id>.json          a model-backed spot check of the entry (harness.leaderboard.spot_check)
    expert_match/<entry-id>.json         how many of its episodes are the scripted expert's (expert_match)
    reference/*.json                     numbers reported by papers (never ranked)
    README.md, index.html                rendered by ``harness leaderboard``

Entries are content-addressed files rather than commits of a separate git repository: the folder
already lives in the project's git history (reviewed and versioned with the code that verified
it), and a seal makes every edit detectable without git — a stored entry that no longer matches
its seal, its file name or its own content (:mod:`harness.leaderboard.sealing`) is reported and
left off the board, without stopping the other entries or later submissions. Submissions to one
folder are serialised by an exclusive ``flock`` on ``.submit.lock``, so the duplicate check and
the write are one step. On the Hub the same path is added to the leaderboard dataset repo as a
pull request, so maintainers merge what was verified.
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from harness.leaderboard.entry import entry_schema
from harness.leaderboard.eval_sets import FILE as EVAL_SETS_FILE
from harness.leaderboard.eval_sets import EvalSets, load_eval_sets, parse_eval_sets
from harness.leaderboard.sealing import read_stored_entry

LOCK_FILE = ".submit.lock"

DEFAULT_HUB_REPO = "harness/leaderboard"


def entry_path(entry: dict[str, Any]) -> str:
    """The entry's path relative to the leaderboard root (the same locally and on the Hub)."""
    return f"entries/{entry['key_hash']}/{entry['entry_id']}.json"


def entry_bytes(entry: dict[str, Any]) -> bytes:
    """The stored form: compact JSON (entries hold every trajectory) with a final newline."""
    return (json.dumps(entry, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")


class LocalLeaderboard:
    """A leaderboard folder on this machine."""

    kind = "local"

    def __init__(self, root: str | Path = "leaderboard"):
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"local leaderboard {self.root}"

    def eval_sets(self) -> EvalSets:
        """The eval sets and protocols this folder registers (``eval_sets.json``)."""
        return load_eval_sets(self.root)

    def write_schema(self) -> Path:
        """Write ``schema.json`` (the package's entry schema) when it is missing or stale."""
        path = self.root / "schema.json"
        text = json.dumps(entry_schema(), indent=2, ensure_ascii=False) + "\n"
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        return path

    def scan(self, key_hash: str | None = None) -> tuple[list[dict[str, Any]], list[str]]:
        """Every stored entry (of one key, if given) that passes every check, and a sentence for each
        file that does not (malformed, edited, misplaced, or the same episodes stored twice)."""
        base = self.root / "entries"
        paths = sorted(base.glob(f"{key_hash or '*'}/*.json")) if base.is_dir() else []
        good, problems = [], []
        for path in paths:
            try:
                good.append(read_stored_entry(path))
            except ValueError as e:  # one bad file must not hide the others or block submissions
                problems.append(str(e))  # the message names the file
            except OSError as e:
                problems.append(f"{path} cannot be read ({e.strerror})")
        # the same episodes twice under one key (e.g. a copy renamed and resealed): the first accepted stays
        good.sort(key=lambda e: (e["submission"]["submitted_at"], e["entry_id"]))
        first: dict[tuple[str, str], dict[str, Any]] = {}
        entries = []
        for e in good:
            same = (e["key_hash"], e["submission"]["trajectories_hash"])
            if same in first:
                problems.append(f"{self.root / entry_path(e)} holds the same episodes as entry {first[same]['entry_id']} "
                                f"('{first[same]['method']}'), accepted first")  # fmt: skip
            else:
                first[same] = e
                entries.append(e)
        return entries, problems

    def entries(self, key_hash: str | None = None) -> list[dict[str, Any]]:
        """Every stored entry (of one key, if given) that passes every check (see :meth:`scan`)."""
        return self.scan(key_hash)[0]

    def find_duplicate(self, entry: dict[str, Any]) -> str | None:
        """Why ``entry`` duplicates a stored one, or ``None``.

        A duplicate is the same result (same entry id), or the same episodes under the same key,
        whatever the policy label or method name: a trajectory's content hash covers every reply,
        action, observation and reward, so two honest policies practically never play identical
        episodes, while relabelling is the cheapest way to list one run twice.
        """
        if (self.root / entry_path(entry)).exists():
            return f"duplicate entry: {entry_path(entry)} already holds exactly this result"
        same = entry["submission"]["trajectories_hash"]
        for old in self.entries(entry["key_hash"]):
            if old["submission"]["trajectories_hash"] == same:
                return (f"duplicate entry: the same {len(entry['trajectories'])} episodes were already submitted as entry "
                        f"{old['entry_id']} ('{old['method']}', policy {old['result']['policy']}, {old['submission']['submitted_at']}); "
                        "a new policy label or method name does not make them a new result")  # fmt: skip
        return None

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the folder's submission lock (an exclusive ``flock``; blocks until it is free)."""
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.root / LOCK_FILE, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing the descriptor releases the lock

    def add(self, entry: dict[str, Any]) -> str:
        """Store ``entry`` once (exclusive create, then read-only); return where it lives."""
        path = self.root / entry_path(entry)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.write_schema()
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)  # unique per call
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(entry_bytes(entry))
            os.link(tmp, path)  # atomic and exclusive: fails if the entry exists, never half-written
        except FileExistsError:
            raise ValueError(f"duplicate entry: {path} already exists; entries are never overwritten") from None
        finally:
            os.unlink(tmp)
        path.chmod(0o444)
        return str(path)


class HubLeaderboard:
    """The leaderboard dataset on a Hub-protocol server: each submission opens a pull request."""

    kind = "hub"

    def __init__(self, repo: str = DEFAULT_HUB_REPO, endpoint: str | None = None, token: str | None = None):
        from huggingface_hub import HfApi, constants

        self.repo = repo
        # HF_ENDPOINT is read now (not only at import) so a local Hub-protocol server can stand in.
        self.endpoint = (endpoint or os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")
        self.api = HfApi(endpoint=self.endpoint, token=token)

    def __repr__(self) -> str:
        return f"Hub leaderboard {self.repo} on {self.endpoint}"

    def eval_sets(self) -> EvalSets:
        """The eval sets the leaderboard dataset registers: its ``eval_sets.json`` on main (none when absent)."""
        from huggingface_hub import errors

        def download() -> str | None:
            try:
                return self.api.hf_hub_download(self.repo, EVAL_SETS_FILE, repo_type="dataset")
            except errors.EntryNotFoundError:  # a repo without the file registers nothing
                return None

        where = f"{self.repo}/{EVAL_SETS_FILE}"
        path = self._call(download)
        if path is None:
            return EvalSets({}, [], where)
        return parse_eval_sets(json.loads(Path(path).read_text(encoding="utf-8")), where)

    def find_duplicate(self, entry: dict[str, Any]) -> str | None:
        """Why ``entry`` duplicates one already merged into the leaderboard dataset, or ``None``."""
        path = entry_path(entry)
        if self._call(lambda: self.api.file_exists(self.repo, path, repo_type="dataset")):
            return f"duplicate entry: {path} is already in {self.repo}"
        return None

    def add(self, entry: dict[str, Any]) -> str:
        """Open a pull request adding the entry to the leaderboard dataset; return its URL."""
        from huggingface_hub import CommitOperationAdd

        op = CommitOperationAdd(path_in_repo=entry_path(entry), path_or_fileobj=entry_bytes(entry))
        info = self._call(lambda: self.api.create_commit(
            self.repo, [op], commit_message=f"Submit {entry['method']} ({entry['key']['env_id']}, entry {entry['entry_id']})",
            commit_description=f"Verified by replay: {entry['submission']['verification']['episodes']} episodes.",
            repo_type="dataset", create_pr=True,
        ))  # fmt: skip
        return info.pr_url or info.commit_url

    def _call(self, fn):  # noqa: ANN001, ANN202 - a thin wrapper that turns Hub errors into errors for people
        from huggingface_hub import errors

        try:
            return fn()
        except errors.RepositoryNotFoundError:
            raise ValueError(
                f"the leaderboard dataset {self.repo} does not exist on {self.endpoint} or is private (set HF_TOKEN); "
                "pass --hub-repo, or submit to the local leaderboard with --registry local"
            ) from None
        except (errors.OfflineModeIsEnabled, errors.LocalEntryNotFoundError) as e:
            raise ValueError(f"cannot reach {self.endpoint} ({e}); unset HF_HUB_OFFLINE or use --registry local") from None
        except errors.HfHubHTTPError as e:
            raise ValueError(f"{self.endpoint} refused the submission: {e}") from None
