"""A recipe's ``prompt.icl``: the same train-split expert examples in the prompt of every stage (SFT
rows, exploration, Monte-Carlo rollouts, evaluation, pairs), never in the trained positions, and
recorded in the evaluation's provenance so a spot check regenerates with the same prompt."""

from __future__ import annotations

import json

import pytest
from miniature import mini_args, mini_catalog, run_dir, stage_folder  # noqa: F401 (fixture)

from harness.data.trl_format import assistant_only_tokens
from harness.pairs.ipr import build_ipr_pairs, prompt_at
from harness.pipeline.stages import sft_row
from harness.prompting import HEADER_TURNS, build_messages
from harness.types import Step, Trajectory

EXAMPLE = [
    {"role": "user", "content": "Observation:\nexample page"},
    {"role": "assistant", "content": "Thought: example\nAction: click[example]"},
    {"role": "user", "content": "That was an example. Now a new task."},
    {"role": "assistant", "content": "OK"},
]


def traj(actions: list[str], final: float, prefix: int = 0) -> Trajectory:
    steps = tuple(Step(text=f"Thought: t{i}\nAction: {a}", action=a, observation=f"obs after {a}") for i, a in enumerate(actions))
    return Trajectory("webshop", "v", "t1", "buy a thing", "start page", steps, final, "done", policy="x", prefix_steps=prefix)


def tokenizers():
    """A template with ``{% generation %}`` markers (ours) and one without (found by prefix renderings)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    from harness.models import CHAT_TEMPLATE

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(["Thought: Action: click Observation: OK example"],
                            trainers.BpeTrainer(vocab_size=300, special_tokens=["<s>", "<|end|>"],
                                                initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))  # fmt: skip
    plain = ("{% for m in messages %}<|{{ m.role }}|>{{ m.content }}<|end|>{% endfor %}"
             "{% if add_generation_prompt %}<|assistant|>{% endif %}")  # fmt: skip
    return [PreTrainedTokenizerFast(tokenizer_object=tok, chat_template=t, eos_token="<|end|>", bos_token="<s>")
            for t in (CHAT_TEMPLATE, plain)]  # fmt: skip


def test_the_option_is_hashed_only_when_set(capsys):
    """At 0-shot every run id and every shared stage-0 folder stays what it was before the option existed."""
    from harness.cli import main
    from harness.pipeline.recipe_run import stage0_keys
    from harness.recipes import load_recipe

    zero, one = load_recipe("ipr-webshop", "tiny"), load_recipe("ipr-webshop", "tiny", ["prompt.icl=1"])
    assert zero.config_hash == "bd4ee80d5e3bf467" != one.config_hash
    assert stage0_keys(zero) == {"model": "28a246e44758321c", "expert": "98741b89a54eb6ab", "sft": "da23ab83babddef5",
                                 "eval_sft_valid": "a376b4757db66f4f", "eval_sft_test": "27ee86e1c0da755f"}  # fmt: skip
    changed = {k for k, v in stage0_keys(one).items() if v != stage0_keys(zero)[k]}
    assert changed == {"sft", "eval_sft_valid", "eval_sft_test"}  # the scripted expert reads no prompt

    assert main(["reproduce", "ipr-webshop", "--preset", "tiny", "--set", "prompt.icl=1", "--dry-run"]) == 0
    assert f"config hash {one.config_hash}" in capsys.readouterr().out
    assert main(["reproduce", "ipr-webshop", "--set", "prompt.icl=-1", "--dry-run"]) == 2
    assert "'prompt.icl' is a number of in-context examples" in capsys.readouterr().err


@pytest.mark.parametrize("template", ["generation markers", "prefix renderings"])
def test_sft_rows_carry_the_examples_as_context_not_as_labels(template):
    tokenizer = tokenizers()[template == "prefix renderings"]
    expert = traj(["search[a]", "click[b]"], 1.0)
    assert sft_row(expert, []) == {"messages": build_messages("webshop", "start page", expert.steps)[:-1]}  # 0-shot: as before
    row = sft_row(expert, EXAMPLE)
    assert row["messages"][HEADER_TURNS : HEADER_TURNS + len(EXAMPLE)] == EXAMPLE
    assert row["icl_turns"] == [HEADER_TURNS, HEADER_TURNS + len(EXAMPLE)]
    enc = assistant_only_tokens(row["messages"], tokenizer, tuple(row["icl_turns"]))
    labelled = tokenizer.decode([t for t, m in zip(enc["input_ids"], enc["assistant_masks"], strict=True) if m])
    # the acknowledgement and the episode's own replies, as at 0-shot; nothing of the example
    zero_shot = assistant_only_tokens(sft_row(expert, [])["messages"], tokenizer)
    assert labelled == tokenizer.decode([t for t, m in zip(zero_shot["input_ids"], zero_shot["assistant_masks"], strict=True) if m])
    assert "example" not in labelled and "t1" in labelled


def test_pair_prompts_carry_the_examples_and_continuations_do_not():
    expert, agent = traj(["search[a]", "click[b]", "click[buy now]"], 1.0), traj(["search[z]", "click[q]"], 0.2)
    (zero,), _ = build_ipr_pairs([expert], [agent], {})
    (one,), _ = build_ipr_pairs([expert], [agent], {}, icl_messages=EXAMPLE)
    assert zero.prompt == prompt_at(expert, 0) and one.prompt[:HEADER_TURNS] + one.prompt[HEADER_TURNS + len(EXAMPLE) :] == zero.prompt
    assert list(one.prompt[HEADER_TURNS : HEADER_TURNS + len(EXAMPLE)]) == EXAMPLE
    assert (one.chosen, one.rejected) == (zero.chosen, zero.rejected)
    # the prompt of step j ends where the rollout's history does after j expert actions
    assert prompt_at(expert, 2, EXAMPLE) == tuple(build_messages("webshop", "start page", expert.steps[:2], EXAMPLE))


@pytest.mark.slow
def test_a_one_shot_recipe_prompts_every_stage_with_the_same_example(tmp_path, mini_catalog, monkeypatch):
    """ipr-webshop in miniature with prompt.icl=1: what the policy receives in every rollout stage, the
    SFT rows (and what the trainer labels), the pairs' prompts and the evaluation provenance."""
    from harness.cli import main
    from harness.data import trl_format
    from harness.execution.checkpoints import read_jsonl
    from harness.execution.executor import Executor
    from harness.leaderboard.spot_check import regenerate
    from harness.policies.hf import HFPolicy
    from harness.prompting import icl_examples
    from harness.types import content_hash

    monkeypatch.setenv("HARNESS_REGISTRY", str(tmp_path / "registry"))
    examples, example_ids = icl_examples("webshop", {"data": str(mini_catalog), "nouns": "heuristic"}, 1)
    header = build_messages("webshop", "x")[:HEADER_TURNS] + examples
    heads: dict[str, list] = {}  # stage -> the opening turns of every prompt the policy was asked to continue
    stage = {"name": ""}
    real_rollouts, real_act, real_tokens = Executor.rollouts, HFPolicy.act, trl_format.assistant_only_tokens

    def rollouts(self, folder, *args, **kwargs):
        stage["name"] = folder.parent.name.split("-")[0]
        return real_rollouts(self, folder, *args, **kwargs)

    def act(self, histories, sampling):
        heads.setdefault(stage["name"], []).extend(h.messages[: len(header) + 1] for h in histories)
        return real_act(self, histories, sampling)

    labelled_with: list = []

    def tokens(messages, tokenizer, icl_turns=None):
        labelled_with.append(icl_turns)
        return real_tokens(messages, tokenizer, icl_turns)

    monkeypatch.setattr(Executor, "rollouts", rollouts)
    monkeypatch.setattr(HFPolicy, "act", act)
    monkeypatch.setattr(trl_format, "assistant_only_tokens", tokens)
    shrink = {"prompt.icl": 1, "data.train_tasks": 4, "data.explore_tasks": 1, "data.valid_tasks": 1, "data.test_tasks": 1,
              "estimate.n": 1, "model.copy_pretraining.steps": 0, "model.corpus_tasks": 10, "explore.max_new_tokens": 8,
              "evaluate.max_new_tokens": 8}  # fmt: skip
    assert main(mini_args(mini_catalog, tmp_path / "runs", extra=shrink)) == 0
    run = run_dir(tmp_path / "runs")

    assert set(heads) >= {"explore", "estimate", "eval_sft_valid", "eval_sft_test", "eval_valid", "eval_best_test"}
    for name, seen in heads.items():
        assert all(h[: len(header)] == header for h in seen), name
        assert all(h[len(header)]["content"].startswith("Observation:\n") for h in seen), name  # then the task's own page
    rows = read_jsonl(stage_folder(run, "sft") / "job_rows.jsonl")
    assert rows and all(r["messages"][: len(header)] == header for r in rows)
    # the SFT trainer left the example turns unlabelled (the preference trainer masks whole prompts)
    assert [t for t in labelled_with if t is not None] == [(HEADER_TURNS, len(header))] * len(rows)
    pairs = read_jsonl(run / "iter1" / "pairs" / "pairs.jsonl")
    assert pairs and all(p["prompt"][: len(header)] == header for p in pairs)
    # prompt = header + the task's first observation + j expert steps; the continuations hold no example
    assert all(len(p["prompt"]) == len(header) + 1 + 2 * p["step_index"] for p in pairs)

    result = json.loads((run / "eval_best_test" / "results.json").read_text())
    prompt = result["provenance"]["prompt"]
    assert (prompt["icl"], prompt["icl_task_ids"], prompt["icl_hash"]) == (1, example_ids, content_hash(examples))
    # a spot check of the recipe's evaluation plays the same prompts, so the same episodes
    stored = read_jsonl(run / "eval_best_test" / "trajectories.jsonl")
    entry = {"entry_id": "e", "result": result, "trajectories": stored,
             "key": {"env_id": "webshop", "env_version": result["env_version"]}}  # fmt: skip
    monkeypatch.setattr(HFPolicy, "act", real_act)
    model = json.loads((run / "select" / "manifest.json").read_text())["path"]
    fresh, used = regenerate(entry, [t["task_id"] for t in stored], f"hf:{model}")
    assert used["icl"] == 1 and [[s.text for s in t.steps] for t in fresh] == [[s["text"] for s in t["steps"]] for t in stored]
