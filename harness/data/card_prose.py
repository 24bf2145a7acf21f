"""The prose of a data card, written from the manifest: contents, production, hashes, limits, use."""

from __future__ import annotations

from typing import Any

from harness.data.schema import CONFIG_DESCRIPTIONS, CONFIGS, TRAJECTORY_CONFIGS

_LIMITS: dict[str, str] = {
    "tasks": "Task ids are indices into the environment's goal list for this environment version; "
    "a different catalog or split scheme gives different tasks under the same ids.",
    "expert_trajectories": "The expert is a scripted oracle that reads the goal (privileged information a model "
    "never sees): its thoughts are short templates and it almost always succeeds, so these episodes teach the "
    "format and a good strategy, not recovery from mistakes. The final observation is kept in `steps`; the "
    "papers' FastChat SFT files stop at the last action.",
    "explored_trajectories": "Explored episodes come from one policy checkpoint along expert prefixes; they "
    "describe that policy's mistakes, not the environment's.",
    "step_rewards": "Monte-Carlo step rewards are estimates from N sampled rollouts: with small N they are noisy, "
    "and they depend on the scorer policy and temperature recorded in each row.",
    "pairs": "Pairs inherit the noise of the step rewards they were built from; a pair's `step_index` refers to "
    "the assistant turn after the shared prompt.",
}


def _short(h: str) -> str:
    return f"`{h[:16]}`"


def _summary(config: str, stats: dict[str, Any]) -> str:
    if config in TRAJECTORY_CONFIGS:
        return f"{stats.get('tasks')} tasks, success {stats.get('success_rate')}, mean steps {stats.get('mean_steps')}"
    if config == "tasks":
        return ", ".join(f"{k}: {v}" for k, v in stats.get("splits", {}).items())
    if config == "step_rewards":
        return f"{stats.get('trajectories')} trajectories, mean value {stats.get('mean_value')}"
    if config == "pairs":
        return f"levels {stats.get('levels')}, mean margin {stats.get('mean_margin')}"
    return ""


_SPLIT_ORDER = {"train": 0, "valid": 1, "validation": 1, "test": 2}


def _entries(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """Splits in reading order: configs as the pipeline makes them, then train, valid, test, others."""
    order = {c: i for i, c in enumerate(CONFIGS)}
    return sorted(
        manifest["splits"].values(), key=lambda e: (order.get(e["config"], 99), _SPLIT_ORDER.get(e["split"], 9), e["split"])
    )


def _production(p: dict[str, Any]) -> list[str]:
    code = p.get("code") or {}
    git = code.get("git") or {}
    commit = git.get("commit")
    code_line = f"harness {code.get('harness', '?')}" + (
        f", git commit `{commit}`{' with uncommitted changes' if git.get('dirty') else ''}"
        if commit
        else ", outside a git checkout"
    )
    seeds = p.get("seeds") or {}
    lines = [
        f"- command: `{p['command']}`" if p.get("command") else "- command: not recorded (built through the Python API)",
        f"- recipe: `{p['recipe']}`" if p.get("recipe") else "- recipe: none",
        f"- config hash: `{p.get('config_hash')}`",
        f"- environment: `{p.get('env_id')}` version `{p.get('env_version')}`",
    ]
    if p.get("policy"):
        lines.append(f"- policy: `{p['policy']}`")
    lines.append("- seeds: " + (", ".join(f"{k} {v}" for k, v in seeds.items()) or "none recorded"))
    if p.get("num_tasks") is not None:
        lines.append(f"- tasks: {p['num_tasks']} (task-id hash `{p.get('task_ids_hash')}`)")
    if p.get("source"):
        lines.append(f"- source: {p['source']}")
    lines.append(
        f"- rows added: {p.get('rows_added')}"
        + (f" ({p['rows_already_present']} already present, skipped)" if p.get("rows_already_present") else "")
    )
    lines.append(f"- code: {code_line}")
    return lines


def _limits(manifest: dict[str, Any]) -> list[str]:
    configs = [c for c in CONFIGS if any(e["config"] == c for e in manifest["splits"].values())]
    out = [f"- `{c}`: {_LIMITS[c]}" for c in configs]
    provs = [p for e in manifest["splits"].values() for p in e["provenance"]]
    if any(
        p.get("env_id") == "webshop" and not (p.get("config") or {}).get("env_kwargs", {}).get("data")
        for p in provs
        if p.get("stage") == "build"
    ):
        out.append(
            "- Built on harness's *generated* WebShop catalog (synthetic products and goals), not the original "
            "Amazon catalog: scores and behaviour on it are not comparable with WebShop numbers in papers."
        )
    if any(p.get("env_id") == "sciworld" for p in provs):
        out.append(
            "- ScienceWorld under ETO's protocol: ETO's split lists (its dev list, here `valid`, shares 54 variations "
            "with its train list), its step budget per task type and its reward (the best raw game score reached, in "
            "[-1, 1]; a step's reward is the episode's reward so far). Expert episodes are the game's gold paths, "
            "shortened (teleports, merged waits and repetitions, checked in the game first) only where a path would "
            "not fit the budget; the game ran in a JVM with `-XX:hashCode=2`, which fixes the order of its random "
            "choices. On the validation split the expert reaches 1.0 on 193 of 194 variations (freeze variation 19: "
            "the game's own gold path stops at 82/100)."
        )
    if any(p.get("stage") == "import" for p in provs):
        out.append(
            "- Imported from FastChat JSON, which has no rewards, done flags or final observations: imported rows have "
            "final reward 0 (so `success` is false) unless the record carried `reward`, and an empty last observation; "
            "`extra` keeps what is needed to write the original JSON back."
        )
    out.append(
        "- Rows are valid for the environment version recorded above; when the environment's version changes "
        "(rules, catalog, seeds), rebuild and publish a new revision instead of mixing versions."
    )
    return out


def render_prose(manifest: dict[str, Any], repo: str) -> str:
    """Markdown body of the card for ``repo``: every section :func:`validate_card` requires."""
    entries = _entries(manifest)
    first = entries[0]["config"], entries[0]["split"]
    out = [
        f"# {repo}",
        "",
        "Versioned artifacts of the `harness` pipeline (step-level supervision for LLM agents: IPR, StepAgent). "
        "Configs are artifact types, splits are task partitions, revisions are releases (tags); pin a commit "
        "for exact reproduction. This card is generated from the data (`harness data card`).",
        "",
        "## What it holds",
        "",
        "| config | split | rows | content hash | summary |",
        "|---|---|---|---|---|",
    ]
    for e in entries:
        summary = _summary(e["config"], e.get("stats", {}))
        out.append(f"| {e['config']} | {e['split']} | {e['num_rows']} | {_short(e['content_hash'])} | {summary} |")
    out.append("")
    for config in dict.fromkeys(e["config"] for e in entries):
        out += [f'- `{config}`: {CONFIG_DESCRIPTIONS[config]}. Schema: `harness.data.schema.features_for("{config}")`.']
    out += ["", "## How it was produced", ""]
    for e in entries:
        for i, p in enumerate(e["provenance"]):
            step = f" (build {i + 1} of {len(e['provenance'])})" if len(e["provenance"]) > 1 else ""
            out += [f"### {e['config']} / {e['split']}{step}", "", *_production(p), ""]
    out += [
        "## Content hashes",
        "",
        f"- dataset hash: `{manifest['dataset_hash']}` (sha256 over the sorted `config/split=hash` lines)",
        *[f"- `{e['config']}/{e['split']}`: `{e['content_hash']}`" for e in entries],
        "",
        "A split's hash is the sha256 of its rows' canonical JSON, in order; every row's `id` is its own content "
        "hash (for trajectories, the trajectory id that step rewards and pairs refer to). "
        "`harness data download` checks both, and each file's sha256, before it writes anything.",
        "",
        "## Limits",
        "",
        *_limits(manifest),
        "",
        "## Use",
        "",
        "```python",
        "from datasets import load_dataset",
        f'ds = load_dataset("{repo}", "{first[0]}", split="{first[1]}", revision="<tag or commit>")',
        "```",
        "",
        "```bash",
        f"harness data download {repo} --config {first[0]} --split {first[1]} --revision <tag or commit> --output DIR",
        "```",
        "",
    ]
    return "\n".join(out)
