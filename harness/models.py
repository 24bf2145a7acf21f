"""Models: offline presets built from scratch, the chat template, and loading with safe defaults.

``init_model`` trains a byte-level BPE tokenizer on an environment's expert conversations and builds
a small Llama with freshly initialised weights, so the whole pipeline runs without a download.
``load_model`` / ``load_tokenizer`` open a local folder or a Hub model (the papers' names such as
``Llama-2-7B`` are aliases for their Hub ids) with safetensors only and ``trust_remote_code`` off
unless asked.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.registry import did_you_mean
from harness.training.copy_pretraining import CopyPretraining, copy_pretrain
from harness.types import content_hash

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

MANIFEST = "harness_model.json"

# One template for every model we build or load without a template of its own. The assistant
# content and its end-of-turn token sit inside {% generation %} so TRL's assistant_only_loss (and
# transformers' return_assistant_tokens_mask) train on exactly what the policy writes. The reply
# starts right after a newline, which keeps the prompt's tokens a prefix of the full conversation's.
CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{% if message['role'] == 'assistant' %}"
    "{{ '<|assistant|>\\n' }}{% generation %}{{ message['content'] }}{{ eos_token }}{% endgeneration %}{{ '\\n' }}"
    "{% else %}"
    "{{ '<|' + message['role'] + '|>\\n' + message['content'] + '\\n' }}"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}"
)
ROLE_TOKENS = ("<|system|>", "<|user|>", "<|assistant|>")
BOS, EOS, PAD = "<s>", "</s>", "<pad>"


@dataclass(frozen=True)
class Preset:
    """Size of a model built from scratch (a Llama architecture)."""

    name: str
    vocab_size: int
    hidden_size: int
    intermediate_size: int
    num_layers: int
    num_heads: int
    context_length: int
    description: str


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset("micro", 1024, 32, 64, 1, 2, 4096, "~40k parameters: pipeline tests in seconds (learns little)"),
        Preset("tiny", 4096, 128, 512, 2, 2, 4096, "~2M parameters (WebShop: 4k BPE + 2k ASIN tokens): tests and CPU pipelines in minutes"),
        Preset("small", 8192, 256, 1024, 4, 4, 4096, "~8M parameters: CPU runs that learn WebShop's format"),
    )
}

# The papers' base models (IPR Table 2 and §5) by the names used there.
HUB_MODELS: dict[str, str] = {
    "Llama-2-7B": "meta-llama/Llama-2-7b-hf",
    "Llama-2-13B": "meta-llama/Llama-2-13b-hf",
    "Mistral-7B": "mistralai/Mistral-7B-v0.1",
    "Llama-3-8B": "meta-llama/Meta-Llama-3-8B",
}


def resolve_model(name_or_path: str) -> str:
    """A local folder as is, a paper name (``Llama-2-7B``) as its Hub id, an ``org/name`` id unchanged."""
    if Path(name_or_path).expanduser().is_dir():
        return str(Path(name_or_path).expanduser())
    if name_or_path in HUB_MODELS:
        return HUB_MODELS[name_or_path]
    if name_or_path.count("/") == 1 and not name_or_path.startswith((".", "/", "~")):
        return name_or_path
    err = did_you_mean(name_or_path, list(HUB_MODELS), "model")
    raise FileNotFoundError(
        f"{err} It is neither a local folder nor a Hub id (org/name). Build one offline with "
        f"`harness model init --preset tiny --env webshop --output {name_or_path}`."
    )


def load_tokenizer(name_or_path: str, trust_remote_code: bool = False) -> PreTrainedTokenizerBase:
    """The tokenizer, left-padded for batched generation, with our chat template when it has none."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(resolve_model(name_or_path), trust_remote_code=trust_remote_code)
    if not tok.chat_template:
        tok.chat_template = CHAT_TEMPLATE
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    tok.padding_side = "left"
    return tok


def load_model(
    name_or_path: str, device: str = "auto", dtype: str = "auto", trust_remote_code: bool = False
) -> PreTrainedModel:
    """A causal LM in eval mode on ``device`` (``auto``: CUDA when present), from safetensors only.

    ``dtype`` ``auto`` means float32 on CPU (bf16 matmuls are several times slower there) and
    bfloat16 on GPU.
    """
    import torch
    from transformers import AutoModelForCausalLM

    path = resolve_model(name_or_path)
    if Path(path).is_dir() and not any(Path(path).glob("*.safetensors")):
        raise FileNotFoundError(
            f"{path} has no *.safetensors weights; only safetensors are loaded (pickled .bin files can run code). "
            "Convert with `model.save_pretrained(dir, safe_serialization=True)` in a trusted environment."
        )
    dev = resolve_device(device)
    if dtype == "auto":
        torch_dtype = torch.float32 if dev == "cpu" else torch.bfloat16
    else:
        torch_dtype = getattr(torch, dtype)
    model = AutoModelForCausalLM.from_pretrained(
        path, dtype=torch_dtype, use_safetensors=True, trust_remote_code=trust_remote_code
    )
    if any(p.is_meta for p in model.parameters()):
        # FSDP's RAM-efficient loading: only local rank 0 holds the weights; the engine moves and shards them
        return model.eval()
    return model.to(dev).eval()


def resolve_device(device: str = "auto") -> str:
    """``auto`` -> ``cuda`` when a GPU is visible, else ``cpu``."""
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


MODEL_SIDE_FILES = (
    "config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
    "chat_template.jinja", "tokenizer.model", "vocab.json", "merges.txt",
)  # fmt: skip
"""A model folder's files besides the weights that change what it generates (hashed in its provenance)."""


def model_provenance(name_or_path: str, config: Any = None, hash_limit_bytes: int = 1 << 30) -> dict[str, Any]:
    """What identifies the weights: the name given, where it resolved, the Hub revision, weight hashes.

    Safetensors files are hashed (sha256) when together smaller than ``hash_limit_bytes``; larger
    checkpoints record file sizes and the Hub commit instead. The small files that also decide the
    replies (:data:`MODEL_SIDE_FILES`: config, tokenizer, chat template) are hashed as ``files_sha256``. A folder from ``harness model init``
    also contributes its manifest.
    """
    import hashlib

    path = resolve_model(name_or_path)
    out: dict[str, Any] = {"model": name_or_path, "resolved": path}
    revision = getattr(config, "_commit_hash", None)
    if revision:
        out["revision"] = revision
    folder = Path(path)
    if folder.is_dir():
        files = sorted(folder.glob("*.safetensors"))
        sizes = {f.name: f.stat().st_size for f in files}
        out["weights_bytes"] = sizes
        if sum(sizes.values()) <= hash_limit_bytes:
            out["weights_sha256"] = {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in files}
        # the tokenizer, chat template and generation defaults shape every reply as much as the weights
        side = [folder / n for n in MODEL_SIDE_FILES if (folder / n).is_file()]
        if side:
            out["files_sha256"] = {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in side}
        if (folder / MANIFEST).exists():
            out["harness_model"] = json.loads((folder / MANIFEST).read_text())
    return out


def context_length(model_or_config: Any) -> int:
    """How many tokens (prompt + reply) the model attends over."""
    config = getattr(model_or_config, "config", model_or_config)
    for key in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"):
        value = getattr(config, key, None)
        if isinstance(value, int) and value > 0:
            return value
    raise ValueError(f"cannot tell the context length of {type(config).__name__}: set it explicitly")


def expert_conversations(
    env_id: str, env_kwargs: dict[str, Any] | None = None, split: str = "train", limit: int | None = None
) -> list[list[dict[str, str]]]:
    """The scripted expert's episodes on ``split`` as chat message lists (the tokenizer's corpus)."""
    from harness.envs import make_env
    from harness.policies.scripted import ExpertPolicy
    from harness.prompting import build_messages
    from harness.rollout import run_episodes

    kwargs = env_kwargs or {}
    env = make_env(env_id, **kwargs)
    ids = env.task_ids(split)[:limit]
    trajs = run_episodes(lambda: make_env(env_id, **kwargs), ids, ExpertPolicy())
    # The final observation is dropped: no reply answers it.
    return [build_messages(t.env_id, t.initial_observation, t.steps)[:-1] for t in trajs]


def vocabulary_entities(env_id: str, env_kwargs: dict[str, Any] | None = None) -> list[str]:
    """The environment's copy-verbatim identifiers (``Environment.vocabulary_entities``), or none."""
    from harness.envs import make_env

    env = make_env(env_id, **(env_kwargs or {}))
    return list(getattr(env, "vocabulary_entities", list)())


def train_tokenizer(texts: list[str], vocab_size: int, context: int, entities: list[str] = ()) -> PreTrainedTokenizerBase:
    """A byte-level BPE tokenizer (any text encodes, no unknown tokens) trained on ``texts``, plus each
    of ``entities`` as one whole-word token.

    Why entities: an agent must copy identifiers such as WebShop's ASINs (``B00XEG86YZ``) from the
    page into its action. Split into BPE pieces, copying needs induction heads, which a from-scratch
    model does not form in a CPU-sized SFT run (measured: after 5 epochs the tiny model still invents
    ASINs); as single tokens, one attention head that copies a token suffices. Pretrained
    tokenizers (the ``paper`` preset) are used as they are."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[PAD, BOS, EOS, *ROLE_TOKENS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    core.train_from_iterator(texts, trainer)
    from tokenizers import AddedToken

    # single_word: never matched inside a longer word; normalized=False: matched exactly as written
    core.add_tokens([AddedToken(e, single_word=True, normalized=False) for e in entities])
    return PreTrainedTokenizerFast(
        tokenizer_object=core,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        additional_special_tokens=list(ROLE_TOKENS),
        chat_template=CHAT_TEMPLATE,
        model_max_length=context,
        padding_side="left",
    )


def init_model(
    preset: str,
    env_id: str,
    output: str | os.PathLike,
    seed: int = 0,
    env_kwargs: dict[str, Any] | None = None,
    corpus_tasks: int | None = None,
    copy_pretraining: CopyPretraining | None = None,
    checkpoint: str | os.PathLike | None = None,
    checkpoint_every_s: float | None = 60.0,
) -> Path:
    """Build preset ``preset`` in ``output``: tokenizer trained on ``env_id``'s expert data, random
    weights, then (when ``copy_pretraining.steps > 0``) copy pretraining on that corpus
    (:mod:`harness.training.copy_pretraining`; no task labels are used, only the corpus text),
    checkpointed to ``checkpoint`` (a file outside ``output``) and resumed from it.

    Writes ``config.json``, ``model.safetensors``, the tokenizer files (with the chat template) and
    ``harness_model.json`` (preset, environment, seed, corpus hash, package versions).
    """
    import torch
    import transformers
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    if preset not in PRESETS:
        raise did_you_mean(preset, list(PRESETS), "model preset")
    p = PRESETS[preset]
    out = Path(output)
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} exists and is not empty; choose a new --output folder")
    conversations = expert_conversations(env_id, env_kwargs, limit=corpus_tasks)
    texts = [m["content"] for conv in conversations for m in conv]
    entities = vocabulary_entities(env_id, env_kwargs)
    tok = train_tokenizer(texts, p.vocab_size, p.context_length, entities)
    config = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=p.hidden_size,
        intermediate_size=p.intermediate_size,
        num_hidden_layers=p.num_layers,
        num_attention_heads=p.num_heads,
        num_key_value_heads=p.num_heads,
        max_position_embeddings=p.context_length,
        tie_word_embeddings=False,  # a tied random head mostly repeats the last token; untied, replies vary
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.generation_config = GenerationConfig(
        bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id, do_sample=False
    )
    copy = copy_pretraining or CopyPretraining()
    copied = copy_pretrain(model, tok, texts, copy, seed, checkpoint=checkpoint,
                           checkpoint_every_s=checkpoint_every_s) if copy.steps else {"steps": 0}  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    tok.save_pretrained(out)
    manifest = {
        "preset": asdict(p),
        "env_id": env_id,
        "env_kwargs": env_kwargs or {},
        "seed": seed,
        "parameters": sum(t.numel() for t in model.parameters()),
        "corpus": {"conversations": len(conversations), "texts": len(texts), "hash": content_hash(texts)},
        "entity_tokens": {"n": len(entities), "hash": content_hash(entities)},
        "trained": False,  # no task labels: copy pretraining uses the corpus text only
        "copy_pretraining": {**asdict(copy), **copied},
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__},
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return out
