"""Two-file artifacts: ``NAME.safetensors`` (tensors) + ``NAME.json`` (everything else).

Generic on purpose: probes, calibrators and steering vectors all go through
:func:`save_artifact` / :func:`load_artifact`. Writes are atomic (a temporary file in the same
folder, then ``os.replace``) and loading never unpickles.
"""

from __future__ import annotations

import json
import logging
import os
from importlib import metadata
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor

from veracity.atomic import atomic_write

__all__ = ["FORMAT_VERSION", "artifact_paths", "check_tensors", "load_artifact", "package_version", "save_artifact",
           "strict_json"]

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
"""Version of the artifact layout; bumped when the JSON keys change meaning."""


def package_version() -> str:
    """Return the installed ``veracity`` version, or ``"0.0.0+local"`` when it is not installed."""
    try:
        return metadata.version("veracity")
    except metadata.PackageNotFoundError:
        return "0.0.0+local"


def artifact_paths(path: str | os.PathLike) -> tuple[Path, Path]:
    """Return the ``(NAME.safetensors, NAME.json)`` pair for a path.

    Args:
        path: ``NAME``, ``NAME.safetensors`` or ``NAME.json``.

    Returns:
        The tensor file and the JSON file.

    Example:
        >>> [p.name for p in artifact_paths("out/probe.json")]
        ['probe.safetensors', 'probe.json']
    """
    p = Path(path)
    if p.suffix in (".safetensors", ".json"):
        p = p.with_suffix("")
    return p.with_name(p.name + ".safetensors"), p.with_name(p.name + ".json")


def save_artifact(
    path: str | os.PathLike, tensors: dict[str, Tensor], meta: dict[str, Any]
) -> tuple[Path, Path]:
    """Write tensors and JSON metadata atomically.

    ``meta`` gets ``format_version`` and ``veracity_version`` keys unless it already has them.

    Args:
        path: ``NAME`` (suffixes ``.safetensors`` / ``.json`` are stripped). Parent folders are
            created.
        tensors: Name to tensor; stored contiguous, on the CPU.
        meta: JSON-serialisable metadata (class, hyperparameters, provenance, ...).

    Returns:
        The paths written: ``(NAME.safetensors, NAME.json)``.

    Raises:
        TypeError: ``meta`` is not JSON-serialisable.

    Example:
        >>> save_artifact("out/v", {"direction": torch.ones(4)}, {"layer": 3})  # doctest: +SKIP
    """
    tensor_path, json_path = artifact_paths(path)
    meta = {**meta}
    meta.setdefault("format_version", FORMAT_VERSION)
    meta.setdefault("veracity_version", package_version())
    text = json.dumps(meta, indent=2, sort_keys=True)  # fail before touching the disk
    payload = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    atomic_write(tensor_path, lambda tmp: save_file(payload, str(tmp)))
    atomic_write(json_path, lambda tmp: tmp.write_text(text + "\n", encoding="utf-8"))
    logger.info("saved artifact %s (.safetensors + .json)", tensor_path.with_suffix(""))
    return tensor_path, json_path


def load_artifact(path: str | os.PathLike) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """Read an artifact written by :func:`save_artifact`.

    Args:
        path: ``NAME``, ``NAME.safetensors`` or ``NAME.json``.

    Returns:
        ``(tensors, meta)``: CPU tensors by name, and the JSON metadata.

    Raises:
        FileNotFoundError: One of the two files is missing.
        ValueError: The artifact was written by a newer format version.

    Example:
        >>> tensors, meta = load_artifact("out/v")  # doctest: +SKIP
    """
    tensor_path, json_path = artifact_paths(path)
    for p in (tensor_path, json_path):
        if not p.is_file():
            raise FileNotFoundError(f"artifact file {p} not found: pass the path used with save()")
    try:
        meta = strict_json(json_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{json_path} is not valid JSON ({err}): pass the .json written by save()") from None
    if not isinstance(meta, dict):
        raise ValueError(f"{json_path} holds a JSON {type(meta).__name__}, not an artifact's metadata object: "
                         "pass the .json written by save()")
    version = meta.get("format_version", FORMAT_VERSION)
    if not isinstance(version, int):
        raise ValueError(f"{json_path}: format_version must be an integer, got {version!r}")
    if version > FORMAT_VERSION:
        raise ValueError(
            f"{json_path} has format_version {version}, this veracity reads up to "
            f"{FORMAT_VERSION}: upgrade veracity"
        )
    try:
        tensors = load_file(str(tensor_path), device="cpu")
    except Exception as err:  # safetensors raises its own error types for foreign or truncated files
        raise ValueError(f"{tensor_path} is not a readable safetensors file ({type(err).__name__}): pass the "
                         ".safetensors written by save()") from None
    check_tensors(tensors, tensor_path)
    return tensors, meta


def strict_json(text: str) -> Any:
    """``json.loads`` that refuses ``NaN`` and ``Infinity`` (a ``json.JSONDecodeError``)."""
    def refuse(name: str) -> Any:
        raise json.JSONDecodeError(f"non-finite number {name}", text, text.find(name))

    return json.loads(text, parse_constant=refuse)


def check_tensors(tensors: dict[str, Tensor], source: Any) -> None:
    """Every tensor is floating point and finite, else a one-line ``ValueError`` naming it."""
    for name, tensor in tensors.items():
        if not tensor.is_floating_point():
            raise ValueError(f"{source}: tensor {name!r} has dtype {tensor.dtype}, not a float: the file is "
                             "damaged or was not written by veracity; save it again")
        if not torch.isfinite(tensor).all():
            raise ValueError(f"{source}: tensor {name!r} holds NaN or inf values: the file is damaged; "
                             "fit and save it again")


