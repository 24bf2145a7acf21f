"""The dataset folder: parquet splits plus a manifest, laid out exactly as a dataset repo on the Hub.

::

    FOLDER/
      manifest.json                                   hashes, row counts, provenance of every split
      README.md                                       the data card (written on publish)
      <config>/<split>-00000-of-00001.parquet         one file per split

Builders write folders, ``publish`` copies a folder into a registry repo, ``download`` writes one
back. Reads verify everything the manifest records: the file checksum, the schema, every row id and
the split's content hash.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.data.errors import CorruptFileError, DataError, HashMismatchError, SchemaError, unknown
from harness.data.hashing import dataset_hash, file_sha256, split_hash, verify_row_ids, verify_split_hash
from harness.data.schema import SCHEMA_VERSION, check_config, check_features, features_for
from harness.data.stats import summarize

if TYPE_CHECKING:
    import datasets

MANIFEST = "manifest.json"
FORMAT = "harness-dataset"
FORMAT_VERSION = 1
_SPLIT_NAME = re.compile(r"^\w+(\.\w+)*$")


def split_key(config: str, split: str) -> str:
    """The manifest key of a split: ``"<config>/<split>"``."""
    return f"{config}/{split}"


def split_file(config: str, split: str) -> str:
    """The path of a split's parquet file inside a folder or repo (the Hub's naming)."""
    return f"{config}/{split}-00000-of-00001.parquet"


def check_split_name(split: str) -> str:
    """Return ``split`` if it is a valid split name (letters, digits, ``_``, dots), else raise."""
    if not _SPLIT_NAME.match(split):
        raise DataError(f"invalid split name '{split}': use letters, digits and '_' (e.g. train, test, valid)")
    return split


def empty_manifest() -> dict[str, Any]:
    """A manifest with no splits."""
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "schema_version": SCHEMA_VERSION,
        "dataset_hash": dataset_hash({}),
        "splits": {},
    }


def parse_manifest(text: str, where: str) -> dict[str, Any]:
    """Parse and check a manifest's JSON text (``where`` names it in errors)."""
    try:
        manifest = json.loads(text)
    except json.JSONDecodeError as e:
        raise CorruptFileError(f"{where} is not valid JSON ({e}); re-download or rebuild the dataset") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT or not isinstance(manifest.get("splits"), dict):
        raise CorruptFileError(f'{where} is not a harness dataset manifest (expected "format": "{FORMAT}" and "splits")')
    return manifest


def read_manifest(folder: Path) -> dict[str, Any]:
    """The manifest of dataset folder ``folder``."""
    path = Path(folder) / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(
            f"{folder} is not a dataset folder: it has no {MANIFEST}. "
            "Create one with `harness data build` or `harness data download`."
        )
    return parse_manifest(path.read_text(encoding="utf-8"), str(path))


def write_manifest(folder: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    """Write ``manifest`` (with its dataset hash recomputed) atomically into ``folder``."""
    manifest = dict(manifest)
    manifest["splits"] = {k: manifest["splits"][k] for k in sorted(manifest["splits"])}
    manifest["dataset_hash"] = dataset_hash({k: v["content_hash"] for k, v in manifest["splits"].items()})
    tmp = Path(folder) / f".{MANIFEST}.tmp"
    tmp.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, Path(folder) / MANIFEST)
    return manifest


def config_entries(manifest: dict[str, Any], config: str, where: str) -> dict[str, dict[str, Any]]:
    """The manifest entries (``config/split`` -> entry) of every split of ``config``, or an error listing the configs."""
    entries = {k: e for k, e in manifest["splits"].items() if e["config"] == config}
    if not entries:
        raise unknown("config", config, sorted({e["config"] for e in manifest["splits"].values()}), where)
    return entries


def manifest_entry(manifest: dict[str, Any], config: str, split: str, where: str) -> dict[str, Any]:
    """The manifest entry of ``config``/``split``, or an error listing the configs and splits there are."""
    entries = config_entries(manifest, config, where)
    key = split_key(config, split)
    if key in entries:
        return entries[key]
    raise unknown("split", split, sorted(e["split"] for e in entries.values()), f"config '{config}' of {where}")


def select_splits(manifest: dict[str, Any], config: str | None, split: str | None, where: str) -> dict[str, dict[str, Any]]:
    """The manifest entries (``config/split`` -> entry) that ``config`` and ``split`` name.

    Both given: that one split; ``config`` only: every split of it; neither: every split in the
    manifest. Unknown names raise an error listing the ones there are.
    """
    if config is None:
        if split is not None:
            raise DataError(f"split '{split}' of {where} needs its config: give --config too, or neither for every split")
        if not manifest["splits"]:
            raise DataError(f"{where} has no splits; publish some with `harness data publish`")
        return dict(manifest["splits"])
    if split is None:
        return config_entries(manifest, config, where)
    return {split_key(config, split): manifest_entry(manifest, config, split, where)}


def read_parquet(path: Path, where: str) -> Any:
    """Read a parquet file as a ``pyarrow.Table``; a damaged file raises :class:`CorruptFileError`."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return pq.read_table(path)
    except (pa.ArrowException, OSError) as e:
        raise CorruptFileError(
            f"{where} is not a readable parquet file ({type(e).__name__}: {e}). "
            "It is damaged or truncated: re-download it, or rebuild the split."
        ) from None


def table_rows(table: Any, where: str) -> list[dict[str, Any]]:
    """The rows of an Arrow table as dicts; undecodable data (a damaged file) raises :class:`CorruptFileError`."""
    import pyarrow as pa

    try:
        return table.to_pylist()
    except (pa.ArrowException, UnicodeDecodeError, ValueError) as e:
        raise CorruptFileError(
            f"{where} holds undecodable data ({type(e).__name__}: {e}); the file is damaged: re-download it or rebuild the split"
        ) from None


def _as_dataset(table: Any) -> datasets.Dataset:
    import datasets
    from datasets.table import InMemoryTable

    return datasets.Dataset(InMemoryTable(table))


def load_split(folder: Path, config: str, split: str, verify: bool = True, label: str | None = None) -> datasets.Dataset:
    """Load ``config``/``split`` of a dataset folder as an in-memory ``datasets.Dataset``.

    With ``verify`` (the default), checks the file checksum, the schema, every row id and the split's
    content hash against the manifest, and raises an error naming what does not match (the folder is
    called ``label`` in messages when given, e.g. the repo and revision a download came from).
    """
    import datasets

    folder = Path(folder)
    entry = manifest_entry(read_manifest(folder), config, split, str(folder))
    ((rel, sha),) = entry["files"].items()
    path = folder / rel
    where = f"{rel} in {label or folder}"
    if not path.is_file():
        raise FileNotFoundError(f"{where} is listed in the manifest but missing; re-download or rebuild the split")
    table = read_parquet(path, where)
    features = datasets.Features.from_arrow_schema(table.schema)
    check_features(features, config, where)
    if verify:
        rows = table_rows(table, where)
        if len(rows) != entry["num_rows"]:
            raise HashMismatchError(
                f"{where} has {len(rows)} rows but its manifest records {entry['num_rows']}: "
                "the file was replaced after the manifest was written; re-download it or rebuild the split"
            )
        verify_row_ids(config, rows, where)
        verify_split_hash(rows, entry["content_hash"], where)
        if file_sha256(path) != sha:
            raise HashMismatchError(
                f"{where} holds the recorded rows but its bytes do not match the manifest's sha256 "
                "(the file was re-encoded or replaced); re-download it or rebuild the split"
            )
    return _as_dataset(table)


def verify_folder(folder: Path) -> dict[str, Any]:
    """Verify every split of a dataset folder (see :func:`load_split`) and return its manifest."""
    manifest = read_manifest(folder)
    if not manifest["splits"]:
        raise DataError(f"dataset folder {folder} has no splits; add some with `harness data build`")
    for entry in manifest["splits"].values():
        load_split(folder, entry["config"], entry["split"], verify=True)
    return manifest


def _in_schema_order(rows: list[dict[str, Any]], columns: list[str], key: str) -> list[dict[str, Any]]:
    out = []
    for i, row in enumerate(rows):
        missing, extra = [c for c in columns if c not in row], [c for c in row if c not in columns]
        if missing or extra:
            raise SchemaError(
                f"row {i} for {key} does not match the schema: missing {missing or 'nothing'}, unexpected {extra or 'nothing'}"
            )
        out.append({c: row[c] for c in columns})
    return out


def _to_table(rows: list[dict[str, Any]], features: Any, key: str) -> Any:
    """Rows as an Arrow table of exactly ``features`` (strict: no silent casts of e.g. ints to strings)."""
    import pyarrow as pa

    schema = features.arrow_schema  # carries the ``huggingface`` metadata datasets reads back
    try:
        return pa.Table.from_pylist(rows, schema=schema)
    except (pa.ArrowException, TypeError, ValueError, OverflowError):
        for name in schema.names:  # find the column to name in the error
            for i, row in enumerate(rows):
                try:
                    pa.array([row[name]], type=schema.field(name).type)
                except (pa.ArrowException, TypeError, ValueError, OverflowError) as e:
                    raise SchemaError(
                        f"row {i} for {key}: column '{name}' holds {type(row[name]).__name__} {str(row[name])[:60]!r}, "
                        f"which is not {features[name]} ({e})"
                    ) from None
        raise


def write_split(
    folder: Path,
    config: str,
    split: str,
    rows: list[dict[str, Any]],
    provenance: dict[str, Any],
    append: bool = False,
) -> dict[str, Any]:
    """Write ``rows`` as ``config``/``split`` of ``folder`` and record them in its manifest.

    Rows must match the config's schema and carry correct ids (see :func:`harness.data.rows.with_id`).
    With ``append``, rows whose id the split already has are skipped and the rest are added after the
    existing rows; the provenance list records every build that contributed. Returns the manifest entry.
    """
    import pyarrow.parquet as pq

    check_config(config)
    check_split_name(split)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    manifest = read_manifest(folder) if (folder / MANIFEST).exists() else empty_manifest()
    key, rel = split_key(config, split), split_file(config, split)
    features = features_for(config)
    rows = _in_schema_order(rows, list(features), key)
    verify_row_ids(config, rows, f"the new rows for {key}")
    history: list[dict[str, Any]] = []
    if append and key in manifest["splits"]:
        existing = load_split(folder, config, split).to_list()
        seen = {r["id"] for r in existing}
        new = [r for r in rows if r["id"] not in seen]
        provenance = {**provenance, "rows_added": len(new), "rows_already_present": len(rows) - len(new)}
        rows, history = existing + new, list(manifest["splits"][key]["provenance"])
    else:
        provenance = {**provenance, "rows_added": len(rows)}
    table = _to_table(rows, features, key)
    path = folder / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(table, tmp)
    written = table_rows(read_parquet(tmp, str(tmp)), str(tmp))  # hash what readers will see
    os.replace(tmp, path)
    manifest["splits"][key] = {
        "config": config,
        "split": split,
        "num_rows": len(written),
        "content_hash": split_hash(written),
        "files": {rel: file_sha256(path)},
        "stats": summarize(config, written),
        "provenance": history + [provenance],
    }
    write_manifest(folder, manifest)
    return manifest["splits"][key]
