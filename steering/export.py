"""Export steering vectors for other tools: llama.cpp GGUF control vectors and plain safetensors.

Layer numbering, checked in the sources (not guessed):

- llama.cpp (ggml-org/llama.cpp). ``common/common.cpp``, ``common_control_vector_load_one``:
  parses tensor names ``direction.N``, rejects ``N == 0`` ("invalid (zero) direction tensor layer
  index", the whole file is skipped), needs 1-D F32 tensors of one width, and stores
  ``direction.N`` at offset ``n_embd * (N - 1)``. ``src/llama-adapter.cpp``,
  ``llama_adapter_cvec::init`` / ``apply``: ``tensors[0]`` is always null ("there's never a
  tensor for layer 0"), ``tensors[il]`` for ``il = 1 .. n_layer - 1`` gets that slot, and
  ``apply_to(ctx, cur, il)`` adds it. ``src/models/llama.cpp`` (graph build): inside
  ``for (int il = 0; il < n_layer; ++il)``, after the FFN residual add,
  ``cur = build_cvec(cur, il)`` is the block's output (``l_out``). ``common_init_from_params``
  defaults the layer range to ``1 .. n_layer``. So ``direction.N`` is added to the output of
  block ``N`` (0-based) = our layer ``N``; the output of block 0 cannot be steered, and
  directions past ``n_layer - 1`` are ignored.
- repeng (vgel/repeng). ``repeng/extract.py``, ``ControlVector.export_gguf``: architecture
  ``"controlvector"``, ``controlvector.model_hint`` = the HF ``config.model_type`` (e.g.
  ``"llama"``), ``controlvector.layer_count`` = number of directions (uint32), and one tensor
  ``direction.{layer}`` per key. Its keys are block indices, not ``hidden_states`` indices:
  ``batched_get_hiddens`` reads ``hidden_states[layer + 1]`` for ``layer >= 0`` and
  ``repeng/control.py`` (``ControlModule``) adds ``directions[layer]`` to the output of
  ``model.layers[layer]``; the default layers are ``range(-1, -n_layers, -1)`` mapped to
  ``n_layers - 1 .. 1``, skipping 0. So repeng, llama.cpp and veracity number layers the same
  way. One difference: for the last block repeng reads ``hidden_states[n_layers]``, which
  Hugging Face returns after the final norm, while it (like us) adds before that norm; veracity
  reads the raw residual there (see :mod:`veracity.hooks.convention`).

Our GGUF files carry the same keys as repeng's plus ``veracity.metadata`` (the JSON provenance),
which llama.cpp ignores. A vector with a layer-0 direction cannot be exported to GGUF.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from veracity.atomic import atomic_write
from veracity.probes.io import check_tensors, strict_json
from veracity.steering.vector import SteeringVector

__all__ = ["FORMATS", "export", "from_gguf", "from_safetensors", "to_gguf", "to_safetensors"]

logger = logging.getLogger(__name__)

ARCH = "controlvector"


def to_gguf(vector: SteeringVector, path: str | os.PathLike, model_hint: str | None = None,
            n_layers: int | None = None) -> Path:
    """Write a llama.cpp control vector (``llama-cli --control-vector PATH``).

    Args:
        vector: The vector; layer ``L`` becomes tensor ``direction.L``.
        path: Output ``.gguf`` file (written atomically).
        model_hint: ``controlvector.model_hint``; default the HF ``model_type`` recorded in the
            vector (``extra["model_type"]``), else its ``model_id``.
        n_layers: The model's number of blocks, needed only when the vector does not record it
            (``vector.n_layers is None``, e.g. one read from another tool's GGUF): llama.cpp
            silently ignores directions past the last block, so they are refused here.

    Returns:
        The path written.

    Raises:
        ValueError: The vector has a layer-0 direction (llama.cpp has no slot for it), its depth
            is unknown and ``n_layers`` was not given, or a layer is past the last block.

    Example:
        >>> to_gguf(vector, "artifacts/honesty.gguf")
    """
    import gguf

    if 0 in vector.directions:
        raise ValueError("layer 0 has no slot in llama.cpp control vectors (it rejects direction.0): "
                         "drop it with vector.select(...) or build the vector on later layers")
    depth = vector.n_layers if vector.n_layers is not None else n_layers
    if depth is None:
        raise ValueError("the vector does not record its model's number of blocks: pass n_layers=N "
                         "(veracity export --n-layers N), since llama.cpp ignores layers past the last block")
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
        raise ValueError(f"n_layers must be a positive integer, got {depth!r}")
    if max(vector.layers) >= depth:
        raise ValueError(f"the vector has layer {max(vector.layers)} but the model has {depth} blocks "
                         f"(0..{depth - 1}); llama.cpp would ignore it: select layers below {depth}")
    hint = model_hint or vector.extra.get("model_type") or vector.model_id or "unknown"

    def write(tmp: Path) -> None:
        writer = gguf.GGUFWriter(str(tmp), ARCH)
        writer.add_string(f"{ARCH}.model_hint", str(hint))
        writer.add_uint32(f"{ARCH}.layer_count", len(vector.directions))
        writer.add_string("veracity.metadata", json.dumps(vector.metadata(), sort_keys=True))
        for layer in vector.layers:
            writer.add_tensor(f"direction.{layer}", vector.directions[layer].numpy().astype(np.float32))
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()

    out = atomic_write(Path(path), write)
    logger.info("wrote GGUF control vector %s (layers %s)", out, vector.layers)
    return out


def _field_text(reader, key: str) -> str | None:
    field = reader.get_field(key)
    return None if field is None else str(field.contents())


def _check_gguf_header(path: Path) -> None:
    """Refuse a file whose GGUF header is not plausible for its size, before the reader allocates anything."""
    import struct

    size = path.stat().st_size
    with path.open("rb") as handle:
        head = handle.read(24)
    if len(head) < 24 or head[:4] != b"GGUF":
        raise ValueError(f"{path} is not a GGUF file: pass a control vector written by to_gguf or llama.cpp")
    _version, n_tensors, n_kv = struct.unpack("<IQQ", head[4:24])
    if n_tensors * 24 + n_kv * 12 > size:  # each tensor and key needs at least that many header bytes
        raise ValueError(f"{path} claims {n_tensors} tensors and {n_kv} keys, more than its {size} bytes can "
                         "hold: the file is corrupt or not a control vector")


def from_gguf(path: str | os.PathLike) -> SteeringVector:
    """Read a GGUF control vector (ours, repeng's or llama.cpp's ``cvector-generator``'s).

    Args:
        path: A ``.gguf`` file with ``direction.N`` tensors.

    Returns:
        The vector (full provenance when veracity wrote it, else the ``model_hint`` as model id).

    Example:
        >>> vector = from_gguf("artifacts/honesty.gguf")
    """
    import gguf

    if not Path(path).is_file():
        raise FileNotFoundError(f"{path} not found: pass a .gguf control vector file")
    _check_gguf_header(Path(path))
    try:
        reader = gguf.GGUFReader(str(path))
    except Exception as err:  # the reader raises assorted errors on damaged files
        raise ValueError(f"{path} is not a readable GGUF file ({type(err).__name__}): the file is corrupt") from None
    arch = _field_text(reader, "general.architecture")
    if arch != ARCH:
        raise ValueError(f"{path} has architecture {arch!r}, not {ARCH!r}: it is not a control vector")
    tensors = {}
    for tensor in reader.tensors:
        if tensor.tensor_type != gguf.GGMLQuantizationType.F32 or len(tensor.shape) != 1:
            raise ValueError(f"{path}: tensor {tensor.name!r} is not a 1-D F32 tensor (type {tensor.tensor_type.name}, "
                             f"shape {list(tensor.shape)}): llama.cpp control vectors hold 1-D F32 directions")
        tensors[tensor.name] = torch.from_numpy(np.array(tensor.data, dtype=np.float32).reshape(-1))
    check_tensors(tensors, path)
    meta_text = _field_text(reader, "veracity.metadata")
    if meta_text is None:
        hint = _field_text(reader, f"{ARCH}.model_hint") or ""
        meta = {"model_id": hint, "method": "gguf", "extra": {"model_type": hint}}
    else:
        try:
            meta = strict_json(meta_text)
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}: veracity.metadata is not valid JSON ({err}): the file is corrupt") from None
    return SteeringVector.from_tensors(tensors, meta, source=path)


def to_safetensors(vector: SteeringVector, path: str | os.PathLike) -> Path:
    """One self-contained ``.safetensors`` file: ``direction.L`` tensors, provenance in the header.

    The header's ``__metadata__`` holds ``veracity`` (the JSON provenance) and
    ``layer_convention``. For veracity's own two-file artifact use :meth:`SteeringVector.save`.

    Args:
        vector: The vector.
        path: Output file (written atomically).

    Returns:
        The path written.
    """
    from safetensors.torch import save_file

    tensors = {f"direction.{k}": v.contiguous() for k, v in vector.directions.items()}
    header = {"veracity": json.dumps(vector.metadata(), sort_keys=True), "layer_convention": vector.layer_convention}
    out = atomic_write(Path(path), lambda tmp: save_file(tensors, str(tmp), metadata=header))
    logger.info("wrote safetensors vector %s (layers %s)", out, vector.layers)
    return out


def from_safetensors(path: str | os.PathLike) -> SteeringVector:
    """Read a file written by :func:`to_safetensors`."""
    from safetensors import safe_open

    if not Path(path).is_file():
        raise FileNotFoundError(f"{path} not found: pass a .safetensors file from to_safetensors")
    try:
        with safe_open(str(path), framework="pt") as handle:
            header = handle.metadata() or {}
            tensors = {name: handle.get_tensor(name) for name in handle.keys()}
    except Exception as err:  # safetensors raises its own error types for foreign or truncated files
        raise ValueError(f"{path} is not a readable safetensors file ({type(err).__name__}): pass a file "
                         "written by to_safetensors") from None
    check_tensors(tensors, path)
    try:
        meta = strict_json(header.get("veracity", "{}"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: its 'veracity' header is not valid JSON ({err}): the file is corrupt") from None
    return SteeringVector.from_tensors(tensors, meta, source=path)


FORMATS: dict[str, Callable[[SteeringVector, str | os.PathLike], Path]] = {
    "gguf": to_gguf,
    "safetensors": to_safetensors,
}


def export(vector: SteeringVector, fmt: str, path: str | os.PathLike, n_layers: int | None = None) -> Path:
    """Write ``vector`` in format ``fmt`` (a key of :data:`FORMATS`).

    ``n_layers`` is passed to :func:`to_gguf` (needed when the vector does not record its depth).

    Example:
        >>> export(vector, "gguf", "honesty.gguf")
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}: use {' or '.join(FORMATS)}")
    if fmt == "gguf":
        return to_gguf(vector, path, n_layers=n_layers)
    return FORMATS[fmt](vector, path)
