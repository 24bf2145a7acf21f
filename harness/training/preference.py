"""IPR's mixture loss on TRL's DPOTrainer (Xiong et al. 2024, §3.4, Eq. 6).

Per pair (prompt x, chosen c, rejected r), with pi_ref frozen (IPR: the SFT model):

    L = -log sigmoid(beta * [(log pi(c|x) - log pi(r|x)) - (log pi_ref(c|x) - log pi_ref(r|x))])
        - log pi(c|x)

where log pi(y|x) is the SUM of the log-probabilities of the assistant tokens of the (possibly
multi-turn) continuation y; the observation turns inside y are masked, because the environment
wrote them, not the policy. TRL's DPOTrainer scores every completion token and its "sft" term is
token-averaged; this trainer (a) builds the completion mask from the chat template's assistant
tokens and (b) rescales TRL's "sft" term per batch so it equals the summed NLL of the chosen side
(``nll="sum"``, the paper's form), or keeps TRL's token mean (``nll="token_mean"``), or drops it
(``nll="none"``, plain DPO, e.g. ETO and StepAgent-Implicit).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from harness.training.lora import LoRASettings, as_lora

NLL_FORMS = ("sum", "token_mean", "none")


@dataclass
class PreferenceSettings:
    """A recipe's ``train`` section: the preference update of every iteration (IPR's script values)."""

    beta: float = 0.1
    learning_rate: float = 3e-6
    epochs: float = 3.0
    batch_size: int = 48
    """Pairs per optimizer step (the global batch, whatever the number of processes)."""
    per_device_batch_size: int = 4
    scheduler: str = "constant_with_warmup"
    warmup_ratio: float = 0.1
    nll: str = "sum"
    nll_weight: float = 1.0
    max_length: int = 4096
    save_steps: int = 100
    """Checkpoint every this many optimizer steps (a re-run resumes from the newest)."""
    reference: str = "sft"
    """``sft`` (IPR: pi_ref = pi_0 in every iteration) or ``previous`` (the last iteration's policy)."""
    beta_after_first: float | None = None
    """beta from iteration 2 on (ETO: 0.5 after round 1's 0.1); None = ``beta`` throughout."""
    learning_rate_after_first: float | None = None
    """Learning rate from iteration 2 on (ETO: 5e-7 after round 1's 1e-6); None = ``learning_rate``."""
    lora: LoRASettings = field(default_factory=LoRASettings)
    """LoRA adapters on the policy instead of full fine-tuning (``r: 0`` = off, the paper's choice);
    the reference stays the full frozen model."""

    def __post_init__(self) -> None:
        self.lora = as_lora(self.lora)


def _common_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def tokenize_pair(tokenizer: Any, prompt: list[dict], chosen: list[dict], rejected: list[dict]) -> dict[str, list[int]]:
    """Token ids of prompt, chosen and rejected plus per-token assistant masks of the continuations
    (:func:`harness.data.trl_format.assistant_only_tokens`: any chat template)."""
    from harness.data.trl_format import assistant_only_tokens

    prompt_ids = tokenizer.apply_chat_template(prompt, add_generation_prompt=True, tokenize=True, return_dict=True)["input_ids"]
    out: dict[str, list[int]] = {}
    full: dict[str, tuple[list[int], list[int]]] = {}
    for side, cont in (("chosen", chosen), ("rejected", rejected)):
        enc = assistant_only_tokens(prompt + cont, tokenizer)
        if not any(enc["assistant_masks"]):
            raise ValueError("the chat template marks no assistant tokens in this pair's continuation")
        full[side] = (enc["input_ids"], enc["assistant_masks"])
    cut = min(_common_prefix(prompt_ids, full["chosen"][0]), _common_prefix(prompt_ids, full["rejected"][0]))
    out["prompt_ids"] = prompt_ids[:cut]
    for side, (ids, mask) in full.items():
        out[f"{side}_ids"] = ids[cut:]
        out[f"{side}_mask"] = [int(m) for m in mask[cut:]]
    return out


@dataclass
class MaskedPreferenceCollator:
    """Pads [chosen; rejected] batches like TRL's collator, but marks only assistant tokens as completion."""

    pad_token_id: int
    max_length: int | None = None

    def __call__(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
        import torch

        seqs, masks = [], []
        for side in ("chosen", "rejected"):
            for ex in examples:
                ids = ex["prompt_ids"] + ex[f"{side}_ids"]
                mask = [0] * len(ex["prompt_ids"]) + ex[f"{side}_mask"]
                if self.max_length is not None:  # keep the start, as TRL does; pairs are sized to fit beforehand
                    ids, mask = ids[: self.max_length], mask[: self.max_length]
                seqs.append(ids)
                masks.append(mask)
        width = max(len(s) for s in seqs)
        input_ids = torch.full((len(seqs), width), self.pad_token_id, dtype=torch.long)
        attention = torch.zeros((len(seqs), width), dtype=torch.long)
        completion = torch.zeros((len(seqs), width), dtype=torch.long)
        for i, (s, m) in enumerate(zip(seqs, masks)):
            input_ids[i, : len(s)] = torch.tensor(s)
            attention[i, : len(s)] = 1
            completion[i, : len(m)] = torch.tensor(m)
        batch = {"input_ids": input_ids, "attention_mask": attention, "completion_mask": completion}
        for key in ("ref_chosen_logps", "ref_rejected_logps"):
            if key in examples[0]:
                batch[key] = torch.tensor([ex[key] for ex in examples])
        return batch


def make_ipr_trainer_class():
    """The DPOTrainer subclass (built lazily so importing this module does not import TRL)."""
    from trl import DPOTrainer

    from harness.training.labelled_positions_head import project_labelled_positions_only

    class IPRTrainer(DPOTrainer):
        """DPOTrainer with assistant-only continuation masks and a selectable NLL term (see module doc)."""

        def __init__(self, *args: Any, nll: str = "sum", nll_weight: float = 1.0, **kwargs: Any):
            if nll not in NLL_FORMS:
                raise ValueError(f"nll must be one of {NLL_FORMS}, got {nll!r}")
            self.nll_form, self.nll_weight = nll, nll_weight
            self.dropped_too_long = 0
            # Keyword arguments only: the collator needs the tokenizer and the config.
            tok, config = kwargs["processing_class"], kwargs["args"]
            kwargs.setdefault("data_collator", MaskedPreferenceCollator(tok.pad_token_id, config.max_length))
            super().__init__(*args, **kwargs)
            from harness.training.lora import is_adapted

            for m in (self.model, self.ref_model):
                if m is not None and not is_adapted(m):  # a LoRA-wrapped policy keeps TRL's head
                    project_labelled_positions_only(m)

        def _prepare_dataset(self, dataset, processing_class, args, dataset_name):
            cols = [c for c in dataset.column_names if c not in ("prompt", "chosen", "rejected")]

            def tok(ex):
                ids = tokenize_pair(processing_class, ex["prompt"], ex["chosen"], ex["rejected"])
                # the padded width of the pair in a [chosen; rejected] batch (group_by_length sorts on it)
                ids["length"] = len(ids["prompt_ids"]) + max(len(ids["chosen_ids"]), len(ids["rejected_ids"]))
                return ids

            dataset = dataset.map(tok, remove_columns=["prompt", "chosen", "rejected", *cols], desc=f"Tokenizing {dataset_name}")
            if args.max_length is None:
                return dataset
            # TRL would cut long pairs at the end (keep_start), silently removing the continuations'
            # tails; whole pairs that do not fit are dropped instead, and counted.
            before = len(dataset)
            dataset = dataset.filter(lambda ex: ex["length"] <= args.max_length)
            self.dropped_too_long = before - len(dataset)
            return dataset

        def _set_signature_columns_if_needed(self):
            if self._signature_columns is None:
                self._signature_columns = [
                    "prompt_ids", "chosen_ids", "rejected_ids", "chosen_mask", "rejected_mask",
                    "ref_chosen_logps", "ref_rejected_logps", "length",
                ]  # fmt: skip

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            if self.nll_form == "sum":
                # TRL's "sft" term is -sum(logp over chosen tokens) / n_tokens; scaling it by
                # n_tokens / n_pairs turns it into the mean over pairs of the summed NLL.
                chosen_mask = inputs["completion_mask"][..., 1:].chunk(2, dim=0)[0]
                n_tokens = max(int(chosen_mask.sum().item()), 1)
                self.loss_weights = [1.0, self.nll_weight * n_tokens / chosen_mask.size(0)]
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)

    from harness.training.trainer_io import with_global_batch_grouping

    return with_global_batch_grouping(IPRTrainer)


def preference_config(output_dir: str, nll: str, seed: int = 42, save_steps: int = 100,
                      gradient_checkpointing: bool = False, **kwargs: Any):  # fmt: skip
    """A ``DPOConfig`` with the loss terms for ``nll`` and the shared trainer settings (``trainer_io``)."""
    from trl import DPOConfig

    from harness.training.trainer_io import trainer_arguments

    losses = ["sigmoid"] if nll == "none" else ["sigmoid", "sft"]
    defaults: dict[str, Any] = dict(
        **trainer_arguments(output_dir, seed, save_steps, gradient_checkpointing=gradient_checkpointing),
        loss_type=losses,
        loss_weights=[1.0] * len(losses),
        remove_unused_columns=False,
        dataset_num_proc=None,
    )
    defaults.update(kwargs)
    return DPOConfig(**defaults)
