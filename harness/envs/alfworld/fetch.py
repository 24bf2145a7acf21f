"""Download ALFWorld's game files from its official release (``harness data fetch alfworld``).

The same archives ``alfworld-download`` fetches for alfworld 0.3.x (release 0.2.2): the ALFRED
metadata (``json_2.1.1_json.zip``: ``traj_data.json``) and the TextWorld games
(``json_2.1.1_tw-pddl.zip``: ``game.tw-pddl``), about 250 MB, unpacked into ``<dest>/json_2.1.1``.
The detector weights and the PDDL problem files are not needed for the text games and are skipped.
``SOURCE.json`` in the destination records what was downloaded (URLs, sizes, sha256).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

from harness.locations import env_data_cache

RELEASE = "https://github.com/alfworld/alfworld/releases/download/0.2.2/"
ARCHIVES = (RELEASE + "json_2.1.1_json.zip", RELEASE + "json_2.1.1_tw-pddl.zip")


def default_destination() -> Path:
    """Where fetched data goes by default (found there by the environment without ``--data``)."""
    return env_data_cache() / "alfworld"


def _download(url: str, target: Path, progress: Callable[[str], None]) -> str:
    """Stream ``url`` to ``target``; return the file's sha256."""
    import urllib.request

    digest, done, last = hashlib.sha256(), 0, 0
    try:
        with urllib.request.urlopen(url, timeout=60) as response, open(target, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0)
            while block := response.read(1 << 20):
                out.write(block)
                digest.update(block)
                done += len(block)
                if done - last >= 25 << 20:
                    last = done
                    progress(f"  {done >> 20} MiB" + (f" of {total >> 20} MiB" if total else ""))
    except OSError as e:
        raise ConnectionError(f"could not download {url}: {e}. Check the network, or download the archive "
                              f"yourself and unpack it so that <folder>/json_2.1.1 exists, then use --data <folder>.") from None
    return digest.hexdigest()


def _extract(archive: Path, dest: Path) -> int:
    """Unpack ``archive`` into ``dest`` (refusing members that would land outside it); return the file count."""
    root = dest.resolve()
    with zipfile.ZipFile(archive) as z:
        members = [m for m in z.infolist() if not m.is_dir()]
        for m in members:
            target = (dest / m.filename).resolve()
            if root not in target.parents:
                raise ValueError(f"{archive.name} holds a path outside the destination: {m.filename}")
            target.parent.mkdir(parents=True, exist_ok=True)
            with z.open(m) as src, open(target, "wb") as out:
                shutil.copyfileobj(src, out)
    return len(members)


def fetch_alfworld(dest: str | Path | None = None, urls: tuple[str, ...] | None = None,
                   progress: Callable[[str], None] = print) -> Path:
    """Download and unpack ``urls`` (default: the release's :data:`ARCHIVES`) into ``dest``; return it."""
    from harness.envs.alfworld.games import list_games

    urls = ARCHIVES if urls is None else urls
    dest = Path(dest) if dest is not None else default_destination()
    dest.mkdir(parents=True, exist_ok=True)
    sources = []
    with tempfile.TemporaryDirectory(dir=dest, prefix=".download-") as tmp:
        for url in urls:
            archive = Path(tmp) / url.rsplit("/", 1)[-1]
            progress(f"downloading {url}")
            sha = _download(url, archive, progress)
            files = _extract(archive, dest)
            sources.append({"url": url, "bytes": archive.stat().st_size, "sha256": sha, "files": files})
    (dest / "SOURCE.json").write_text(json.dumps({"archives": sources}, indent=2) + "\n")
    list_games.cache_clear()
    counts = {s: len(list_games(str(dest), s)) for s in ("seen", "unseen", "train")}
    progress(f"ALFWorld games in {dest}: {counts['seen']} seen, {counts['unseen']} unseen, {counts['train']} train")
    return dest
