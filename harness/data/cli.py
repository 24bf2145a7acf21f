"""``harness data ...`` sub-commands: build, publish, download, list, card, import, export.

Handlers import the heavy modules (datasets, huggingface_hub) only when they run, so
``harness --help`` stays fast.
"""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

from harness.data.registries import REGISTRY_KINDS
from harness.data.registry import Registry


def _registry_options() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--registry", choices=REGISTRY_KINDS, default="local", help="local (default: a folder of git repos) or hub")
    p.add_argument(
        "--registry-path", default=None, help="local registry folder (default: $HARNESS_REGISTRY, else $HARNESS_CACHE/registry; HARNESS_CACHE defaults to ~/.cache/harness)"
    )
    p.add_argument("--endpoint", default=None, help="Hub endpoint (default: $HF_ENDPOINT or https://huggingface.co)")
    return p


def _registry(args: argparse.Namespace) -> Registry:
    from harness.data.registries import make_registry

    return make_registry(args.registry, path=args.registry_path, endpoint=args.endpoint)


def _build_command(args: argparse.Namespace) -> str:
    parts = ["harness", "data", "build", args.env, "--split", args.split, "--config", args.config, "--seed", str(args.seed)]
    for flag in ("limit", "data", "env_seed", "nouns", "split_scheme"):
        if getattr(args, flag) is not None:
            parts += [f"--{flag.replace('_', '-')}", str(getattr(args, flag))]
    return shlex.join(parts + ["--output", str(args.output)] + (["--append"] if args.append else []))


def _build(args: argparse.Namespace) -> int:
    from harness.data.build import BuildConfig, build

    env_kwargs = {"data": args.data, "seed": args.env_seed, "nouns": args.nouns, "split_scheme": args.split_scheme}
    output = Path(args.output or Path("runs") / "data" / args.env)
    args.output = output
    cfg = BuildConfig(
        env=args.env,
        split=args.split,
        config=args.config,
        seed=args.seed,
        limit=args.limit,
        env_kwargs={k: v for k, v in env_kwargs.items() if v is not None},
    )
    entry = build(cfg, output, command=_build_command(args), append=args.append)
    stats = entry["stats"]
    detail = f", success {stats['success_rate']}, mean steps {stats['mean_steps']}" if "success_rate" in stats else ""
    added = entry["provenance"][-1]["rows_added"]
    print(f"wrote {args.config}/{args.split} of {args.env} to {output}: {entry['num_rows']} rows ({added} new{detail})")
    print(f"content hash {entry['content_hash']}")
    return 0


def _publish(args: argparse.Namespace) -> int:
    reg = _registry(args)
    pub = reg.publish(Path(args.path), args.repo, tag=args.tag, message=args.message)
    rev = f"{pub.repo}@{pub.tag}" if pub.tag else pub.repo
    print(f"published {rev} (commit {pub.commit[:12]}) to the {reg!r}")
    for key, h in pub.splits.items():
        print(f"  {key}: content hash {h}")
    print(f"dataset hash {pub.dataset_hash}")
    return 0


def _download(args: argparse.Namespace) -> int:
    got = _registry(args).download_splits(args.repo, args.revision, Path(args.output), args.config, args.split)
    configs = sorted({e["config"] for e in got.splits.values()})
    n = len(got.splits)
    print(
        f"downloaded {got.repo}@{got.revision} (commit {got.commit}) to {got.folder}: "
        f"{n} split{'s' * (n != 1)} of {len(configs)} config{'s' * (len(configs) != 1)} ({', '.join(configs)})"
    )
    for key, entry in got.splits.items():
        print(f"  {key} verified: {entry['num_rows']} rows, content hash {entry['content_hash']}")
    return 0


def _list(args: argparse.Namespace) -> int:
    from tabulate import tabulate

    reg = _registry(args)
    if args.repo:
        info = reg.info(args.repo)
        refs = [("branch", n, c[:12]) for n, c in info.branches.items()] + [("tag", n, c[:12]) for n, c in info.tags.items()]
        print(tabulate(refs, headers=["kind", "revision", "commit"]))
        print()
        print(tabulate(sorted(info.splits.items()), headers=["config/split at main", "rows"]))
        return 0
    repos = reg.list_repos(args.owner)
    if not repos:
        print(f"no dataset repos in the {reg!r}; publish one with `harness data publish PATH --repo ORG/NAME`")
        return 0
    rows = []
    for repo in repos:
        info = reg.info(repo)
        rows.append((repo, ", ".join(info.tags) or "-", ", ".join(sorted(info.splits)) or "-"))
    print(tabulate(rows, headers=["repo", "tags", "config/split at main"]))
    return 0


def _card(args: argparse.Namespace) -> int:
    from harness.data.cards import render_card, validate_card
    from harness.data.folder import MANIFEST, read_manifest

    target = Path(args.target)
    if target.is_dir() and not (target / MANIFEST).exists():  # a folder of cards, e.g. data_cards/
        cards = sorted(target.glob("*.md"))
        if not cards:
            raise FileNotFoundError(f"{target} holds no dataset folder ({MANIFEST}) and no cards (*.md)")
        for card in cards:
            meta = validate_card(card.read_text(encoding="utf-8"), str(card))
            print(f"{card}: valid ({', '.join(c['config_name'] for c in meta['configs'])})")
        return 0
    if target.is_file():
        meta = validate_card(target.read_text(encoding="utf-8"), str(target))
        print(f"{target}: valid ({', '.join(c['config_name'] for c in meta['configs'])})")
        return 0
    if target.is_dir():
        manifest = read_manifest(target)
        text = render_card(manifest, args.repo or target.name)
    else:
        reg = _registry(args)
        text, manifest = reg.card(args.target, args.revision), reg.manifest(args.target, args.revision)
    validate_card(text, args.output or str(args.target), manifest)
    if args.output:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"wrote the card to {args.output} (validated against the data)")
    else:
        print(text, end="")
    return 0


def _import(args: argparse.Namespace) -> int:
    import hashlib

    from harness.data.folder import write_split
    from harness.data.importers import fastchat_to_rows, read_fastchat
    from harness.types import content_hash

    records = read_fastchat(Path(args.file))
    rows = fastchat_to_rows(records, args.env, args.env_version)
    text = Path(args.file).read_bytes()
    provenance = {
        "stage": "import",
        "command": shlex.join(
            ["harness", "data", "import", args.file, "--env", args.env, "--split", args.split, "--output", args.output]
        ),
        "source": f"FastChat JSON {Path(args.file).name} (sha256 {hashlib.sha256(text).hexdigest()})",
        "env_id": args.env,
        "env_version": args.env_version,
        "config_hash": content_hash({"env": args.env, "env_version": args.env_version, "split": args.split}),
    }
    entry = write_split(Path(args.output), "expert_trajectories", args.split, rows, provenance)
    print(f"imported {len(rows)} FastChat records into expert_trajectories/{args.split} of {args.output}")
    print(f"content hash {entry['content_hash']}")
    return 0


def _export(args: argparse.Namespace) -> int:
    import json

    from harness.data.folder import load_split
    from harness.data.importers import rows_to_fastchat, write_fastchat
    from harness.data.trl_format import to_trl_sft

    rows = load_split(Path(args.path), args.config, args.split).to_list()
    if args.format == "fastchat":
        write_fastchat(rows_to_fastchat(rows), Path(args.output))
    else:
        Path(args.output).write_text(
            "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in to_trl_sft(rows)), encoding="utf-8"
        )
    print(f"wrote {len(rows)} {args.format} records to {args.output}")
    return 0


def register_data_commands(data: argparse._SubParsersAction) -> None:
    """Add build, publish, download, list, card, import and export to the ``harness data`` parser."""
    reg = _registry_options()
    b = data.add_parser("build", help="run the expert on a split and write a dataset folder (expert_trajectories or tasks)")
    b.add_argument("env", help="environment (webshop)")
    b.add_argument("--split", default="train")
    b.add_argument("--config", default="expert_trajectories", choices=("expert_trajectories", "tasks"))
    b.add_argument("--output", default=None, help="dataset folder (default: runs/data/ENV)")
    b.add_argument("--limit", type=int, default=None, help="only the first N tasks of the split")
    b.add_argument("--seed", type=int, default=0, help="episode seed")
    b.add_argument("--data", default=None, help="catalog folder (default: the generated catalog)")
    b.add_argument("--env-seed", type=int, default=None, help="seed of the environment's draws (WebShop's prices; default 0)")
    b.add_argument("--nouns", default=None)
    b.add_argument("--split-scheme", default=None)
    b.add_argument("--append", action="store_true", help="add to the split's rows instead of replacing them")
    b.set_defaults(func=_build)

    p = data.add_parser("publish", parents=[reg], help="publish a dataset folder as a new revision of ORG/NAME")
    p.add_argument("path")
    p.add_argument("--repo", required=True, help="ORG/NAME")
    p.add_argument("--tag", default=None, help="release name, e.g. v1 (releases are immutable)")
    p.add_argument("--message", default=None)
    p.set_defaults(func=_publish)

    d = data.add_parser(
        "download", parents=[reg], help="download and verify a revision: every config and split, one config, or one split"
    )
    d.add_argument("repo", help="ORG/NAME")
    d.add_argument("--config", default=None, help="only this config (default: every config of the revision)")
    d.add_argument("--split", default=None, help="only this split of --config (default: every split)")
    d.add_argument("--revision", default="main", help="tag, branch or commit (default: main)")
    d.add_argument("--output", required=True, help="dataset folder to write (created; splits already there and not downloaded are kept)")
    d.set_defaults(func=_download)

    ls = data.add_parser("list", parents=[reg], help="list dataset repos, or one repo's revisions and splits")
    ls.add_argument("repo", nargs="?", default=None)
    ls.add_argument("--owner", default=None, help="only repos of this owner (required for --registry hub)")
    ls.set_defaults(func=_list)

    c = data.add_parser("card", parents=[reg], help="show, write or validate a data card")
    c.add_argument("target", help="ORG/NAME in the registry, a dataset folder, a card file, or a folder of cards (validates)")
    c.add_argument("--revision", default="main")
    c.add_argument("--repo", default=None, help="repo name shown on a card rendered from a dataset folder")
    c.add_argument("--output", default=None, help="write the card here instead of printing it")
    c.set_defaults(func=_card)

    i = data.add_parser("import", help="import IPR/ETO FastChat JSON as expert_trajectories")
    i.add_argument("file")
    i.add_argument("--env", required=True)
    i.add_argument("--env-version", default="unknown")
    i.add_argument("--split", default="train")
    i.add_argument("--output", required=True)
    i.set_defaults(func=_import)

    e = data.add_parser("export", help="export trajectories as FastChat JSON or TRL SFT JSONL")
    e.add_argument("path", help="dataset folder")
    e.add_argument("--config", default="expert_trajectories")
    e.add_argument("--split", default="train")
    e.add_argument("--format", choices=("fastchat", "trl-sft"), default="fastchat")
    e.add_argument("--output", required=True)
    e.set_defaults(func=_export)
