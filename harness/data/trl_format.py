"""Trajectory and pair rows in TRL's dataset formats.

- SFT, conversational: ``{"messages": [{"role", "content"}, ...]}``, the papers' turns (task
  description, "OK", observations, replies), ending with the last reply. Train on it with TRL's
  ``assistant_only_loss=True`` (needs a chat template with ``{% generation %}`` markers), or
- SFT, tokenized with assistant-only masks: ``{"input_ids", "assistant_masks"}``, computed here for
  any chat template (with markers, or prefix-stable without), so the loss covers exactly the
  assistant turns (IPR/ETO train on every ``gpt`` turn, the acknowledgement included). TRL uses a
  dataset that already has ``input_ids`` as is and turns ``assistant_masks`` into labels. A recipe's
  in-context example turns (``prompt.icl``) are left unmarked: context, like the observations.
- Preference (DPO): pairs rows are already TRL's conversational preference format;
  :func:`pairs_to_trl` keeps ``prompt``, ``chosen`` and ``rejected``.
"""

from __future__ import annotations

from typing import Any

from harness.data.errors import DataError
from harness.data.importers import row_to_record, to_chat_messages


def trajectory_messages(row: dict[str, Any]) -> list[dict[str, str]]:
    """The chat messages of a trajectory row, as the papers train on them (ends with the last reply)."""
    return to_chat_messages(row_to_record(row))


def to_trl_sft(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Trajectory rows as TRL conversational SFT rows: ``{"messages": [...]}``."""
    return [{"messages": trajectory_messages(r)} for r in rows]


def _ids(tokenizer: Any, messages: list[dict[str, str]], generation_prompt: bool) -> list[int]:
    out = tokenizer.apply_chat_template(messages, tokenize=True, add_generation_prompt=generation_prompt)
    ids = out["input_ids"] if hasattr(out, "keys") else out
    return list(ids[0] if ids and isinstance(ids[0], list) else ids)


def has_generation_markers(tokenizer: Any) -> bool:
    """Whether the tokenizer's chat template marks assistant tokens with ``{% generation %}``."""
    template = tokenizer.chat_template or ""
    templates = template.values() if isinstance(template, dict) else [template]
    return any("{% generation %}" in t or "{%- generation %}" in t for t in templates)


def assistant_only_tokens(messages: list[dict[str, str]], tokenizer: Any,
                          icl_turns: tuple[int, int] | None = None) -> dict[str, list[int]]:  # fmt: skip
    """Tokenize ``messages`` with the tokenizer's chat template and mark the assistant tokens.

    ``icl_turns``: the ``[start, stop)`` message indices of in-context example turns (a recipe's
    ``prompt.icl``): context, like an observation, so their assistant replies are not marked (the
    loss covers the real episode's assistant turns only, those it would mark at 0-shot).

    With ``{% generation %}`` markers the template says which tokens are the assistant's. Without
    (most released instruct templates, e.g. SmolLM2's ChatML), an assistant turn's tokens are those
    between the conversation rendered up to it with the generation prompt and the conversation
    rendered through it: its content and end-of-turn token (what follows that token, such as
    ChatML's newline, is the template's, not the policy's). Raises when the template does not
    render each conversation as a prefix of the longer ones.
    """
    if has_generation_markers(tokenizer):
        enc = tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True, return_assistant_tokens_mask=True)
        out = {"input_ids": list(enc["input_ids"]), "assistant_masks": [int(m) for m in enc["assistant_masks"]]}
        return _unmark_turns(out, messages, tokenizer, icl_turns) if icl_turns else out
    full = _ids(tokenizer, messages, generation_prompt=False)
    mask = [0] * len(full)
    eos = tokenizer.eos_token_id
    skipped = range(*icl_turns) if icl_turns else range(0)
    for i, m in enumerate(messages):
        if m["role"] != "assistant" or i in skipped:
            continue
        start = len(_ids(tokenizer, messages[:i], generation_prompt=True))
        through = _ids(tokenizer, messages[: i + 1], generation_prompt=False)
        if full[: len(through)] != through or start > len(through):
            raise DataError(
                f"the chat template of {type(tokenizer).__name__} does not render turn {i} as a prefix of the whole "
                "conversation, so the assistant's tokens cannot be located; give the template {% generation %} "
                "markers around each assistant reply"
            )
        end = len(through)
        while end > start and eos is not None and through[end - 1] != eos and eos in through[start:end]:
            end -= 1  # stop at the end-of-turn token
        for t in range(start, end):
            mask[t] = 1
    return {"input_ids": full, "assistant_masks": mask}


def _unmark_turns(enc: dict[str, list[int]], messages: list[dict[str, str]], tokenizer: Any,
                  turns: tuple[int, int]) -> dict[str, list[int]]:  # fmt: skip
    """``enc`` with the tokens of messages ``[start, stop)`` unmarked: those between the conversation
    rendered up to ``start`` and rendered up to ``stop`` (a template with ``{% generation %}``
    markers; the conversation must render each prefix as a prefix of the whole)."""
    start, stop = turns
    before, through = _ids(tokenizer, messages[:start], False), _ids(tokenizer, messages[:stop], False)
    full = enc["input_ids"]
    if full[: len(before)] != before or full[: len(through)] != through:
        raise DataError(
            f"the chat template of {type(tokenizer).__name__} does not render the first {stop} messages as a prefix "
            "of the whole conversation, so the in-context example turns cannot be located and left out of the loss"
        )
    mask = list(enc["assistant_masks"])
    mask[len(before) : len(through)] = [0] * (len(through) - len(before))
    return {"input_ids": full, "assistant_masks": mask}


def to_trl_sft_tokenized(rows: list[dict[str, Any]], tokenizer: Any) -> list[dict[str, list[int]]]:
    """Trajectory rows as tokenized TRL SFT rows with assistant-only masks."""
    return [assistant_only_tokens(trajectory_messages(r), tokenizer) for r in rows]


def pairs_to_trl(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Pairs rows as TRL conversational preference rows (``prompt``, ``chosen``, ``rejected``)."""
    return [{k: r[k] for k in ("prompt", "chosen", "rejected")} for r in rows]


def sft_dataset(rows: list[dict[str, Any]], tokenizer: Any | None = None) -> Any:
    """A ``datasets.Dataset`` for TRL's ``SFTTrainer``: conversational, or tokenized with masks."""
    import datasets

    return datasets.Dataset.from_list(to_trl_sft_tokenized(rows, tokenizer) if tokenizer is not None else to_trl_sft(rows))
