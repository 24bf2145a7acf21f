"""IPR/ETO FastChat JSON <-> datasets, and TRL's SFT formats with assistant-only masks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.cli import main
from harness.data.errors import SchemaError
from harness.data.folder import load_split, write_split
from harness.data.importers import fastchat_to_rows, read_fastchat, rows_to_fastchat, write_fastchat
from harness.data.trl_format import assistant_only_tokens, pairs_to_trl, to_trl_sft, trajectory_messages

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "fastchat_webshop.json"


def test_fastchat_json_to_dataset_and_back_is_identical(tmp_path):
    records = read_fastchat(FIXTURE)
    write_split(tmp_path / "ds", "expert_trajectories", "train", fastchat_to_rows(records, "webshop"), {"stage": "import"})
    rows = load_split(tmp_path / "ds", "expert_trajectories", "train").to_list()
    assert rows_to_fastchat(rows) == records
    out = write_fastchat(rows_to_fastchat(rows), tmp_path / "back.json")
    assert out.read_bytes() == FIXTURE.read_bytes()


def test_imported_records_become_steps_with_parsed_actions():
    rows = fastchat_to_rows(read_fastchat(FIXTURE), "webshop")
    first = rows[0]
    assert first["task_id"] == "0" and first["instruction"] == "i want a pack of 3 lavender candles under 30 dollars"
    assert [s["action"] for s in first["steps"]] == ["search[lavender candles 3 pack]", "click[b01candle3]", "click[buy now]"]
    assert first["steps"][-1]["observation"] == ""  # the papers' files stop at the last reply
    assert rows[1]["final_reward"] == 0.0 and rows[2]["task_id"] == "42"


def test_the_cli_imports_and_exports_the_same_file(tmp_path, capsys):
    assert main(["data", "import", str(FIXTURE), "--env", "webshop", "--output", str(tmp_path / "ds")]) == 0
    assert main(["data", "export", str(tmp_path / "ds"), "--output", str(tmp_path / "out.json")]) == 0
    assert (tmp_path / "out.json").read_bytes() == FIXTURE.read_bytes()
    assert "imported 3 FastChat records" in capsys.readouterr().out


def test_built_trajectories_export_in_the_papers_turn_order(tmp_path, small_catalog):
    from harness.data.build import BuildConfig, build

    build(BuildConfig(split="valid", limit=2, env_kwargs={"data": str(small_catalog)}), tmp_path / "ds")
    rows = load_split(tmp_path / "ds", "expert_trajectories", "valid").to_list()
    record = rows_to_fastchat(rows)[0]
    turns = record["conversations"]
    assert [t["from"] for t in turns[:4]] == ["human", "gpt", "human", "gpt"] and turns[1]["value"] == "OK"
    assert turns[2]["value"].startswith("Observation:\n") and turns[-1]["from"] == "gpt"
    assert len(turns) == 3 + 2 * len(rows[0]["steps"]) - 1
    reimported = fastchat_to_rows([record], "webshop")[0]
    assert [s["text"] for s in reimported["steps"]] == [s["text"] for s in rows[0]["steps"]]


@pytest.mark.parametrize(
    "record, message",
    [
        (
            {
                "id": 1,
                "conversations": [
                    {"from": "human", "value": "a"},
                    {"from": "human", "value": "b"},
                    {"from": "human", "value": "c"},
                ],
            },
            "turn 1 .* is from 'human', expected 'gpt'",
        ),
        ({"id": 2, "turns": []}, "needs 'id' and a 'conversations' list"),
        (
            {
                "id": 3,
                "conversations": [
                    {"from": "human", "value": "a"},
                    {"from": "gpt", "value": "OK", "loss": 1},
                    {"from": "human", "value": "c"},
                ],
            },
            "turn 1 .* must be exactly",
        ),
    ],
)
def test_malformed_fastchat_is_refused_naming_record_and_turn(tmp_path, record, message):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps([record]))
    with pytest.raises(SchemaError, match=message):
        read_fastchat(path)


def test_trl_sft_rows_are_conversational_messages():
    rows = fastchat_to_rows(read_fastchat(FIXTURE), "webshop")
    sft = to_trl_sft(rows)
    assert list(sft[0]) == ["messages"]
    assert [m["role"] for m in sft[0]["messages"]] == [
        "user",
        "assistant",
        "user",
        "assistant",
        "user",
        "assistant",
        "user",
        "assistant",
    ]


def _tiny_tokenizer():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    specials = ["<|user|>", "<|assistant|>", "<|end|>"]
    tok.train_from_iterator(
        ["Thought: Action: search click Observation: OK"],
        trainers.BpeTrainer(vocab_size=300, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()),
    )
    template = (
        "{% for m in messages %}<|{{ m.role }}|>{{ m.content }}<|end|>{% endfor %}"
        "{% if add_generation_prompt %}<|assistant|>{% endif %}"
    )
    return PreTrainedTokenizerFast(tokenizer_object=tok, chat_template=template, eos_token="<|end|>")


def test_assistant_only_masks_cover_exactly_the_assistant_turns():
    tokenizer = _tiny_tokenizer()
    messages = trajectory_messages(fastchat_to_rows(read_fastchat(FIXTURE), "webshop")[0])
    out = assistant_only_tokens(messages, tokenizer)
    masked = [t for t, m in zip(out["input_ids"], out["assistant_masks"], strict=True) if m]
    expected = "".join(m["content"] + "<|end|>" for m in messages if m["role"] == "assistant")
    assert tokenizer.decode(masked) == expected
    assert len(out["input_ids"]) == len(out["assistant_masks"]) and 0 in out["assistant_masks"]


def test_pairs_keep_trl_preference_columns():
    row = {
        "prompt": [{"role": "user", "content": "t"}],
        "chosen": [{"role": "assistant", "content": "a"}],
        "rejected": [{"role": "assistant", "content": "b"}],
        "level": "step",
    }
    assert pairs_to_trl([row]) == [{k: row[k] for k in ("prompt", "chosen", "rejected")}]


def test_a_card_for_imported_data_states_what_the_format_lacks(tmp_path, capsys):
    assert main(["data", "import", str(FIXTURE), "--env", "webshop", "--output", str(tmp_path / "ds")]) == 0
    assert main(["data", "card", str(tmp_path / "ds"), "--repo", "acme/imported"]) == 0
    card = capsys.readouterr().out
    assert "Imported from FastChat JSON" in card and "fastchat_webshop.json (sha256 " in card
