"""``SteeringVector``: a ``{layer: direction}`` value with provenance, arithmetic and two-file I/O.

A vector is a value: arithmetic returns new vectors and never mutates. Directions are float32
CPU tensors of width ``d_model``; layer ``L`` means the residual stream after block ``L``
(:data:`veracity.hooks.convention.LAYER_CONVENTION`). ``save`` writes ``NAME.safetensors`` (one tensor
``direction.L`` per layer) + ``NAME.json`` (provenance) atomically; ``load`` never unpickles.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass, field, fields, replace
from numbers import Real
from pathlib import Path
from typing import Any

import torch
from jaxtyping import Float
from torch import Tensor

from veracity.hooks.convention import LAYER_CONVENTION, SITE
from veracity.probes.io import load_artifact, save_artifact

__all__ = ["NORMALIZATIONS", "SteeringVector"]

logger = logging.getLogger(__name__)

NORMALIZATIONS = ("none", "unit", "resid", "gap")
"""``unit``: norm 1; ``resid``: norm = mean residual norm at that layer; ``gap``: norm = mean
projection gap between the contrast sets (coefficient 1 moves one set onto the other)."""


@dataclass(eq=False)
class SteeringVector:
    """Directions to add to the residual stream, one per layer, and where they came from.

    Attributes:
        directions: ``{layer: direction}``; each a 1-D tensor of width ``d_model`` (stored float32, CPU).
        model_id: The model the vector was built on.
        n_layers: That model's number of blocks (``None`` if unknown).
        method: How it was built (``"pca"``, ``"mean_diff"``, ``"east"``, ``"probe:..."``, ...).
        normalization: One of :data:`NORMALIZATIONS`.
        coefficient: Suggested coefficient for :func:`veracity.steering.steer`.
        site: Hook site (always ``"resid_post"``).
        layer_convention: The layer convention the keys follow.
        extra: Free-form JSON-serialisable facts (per-layer statistics, data set, ...).
    """

    directions: dict[int, Float[Tensor, " d_model"]]
    model_id: str = ""
    n_layers: int | None = None
    method: str = "custom"
    normalization: str = "none"
    coefficient: float = 1.0
    site: str = SITE
    layer_convention: str = LAYER_CONVENTION
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        if not isinstance(self.directions, dict) or not self.directions:
            raise ValueError("a steering vector needs at least one {layer: direction} entry")
        clean, width = {}, None
        for layer, direction in sorted(self.directions.items()):
            if isinstance(layer, bool) or not isinstance(layer, int) or layer < 0:
                raise ValueError(f"layer keys must be non-negative ints (layer L = after block L), got {layer!r}")
            raw = torch.as_tensor(direction)
            if raw.dim() != 1:
                raise ValueError(f"direction for layer {layer} must be 1-D (d_model,), got shape {tuple(raw.shape)}")
            d = raw.detach().to("cpu", torch.float32).clone().contiguous()
            if not torch.isfinite(d).all():
                raise ValueError(f"direction for layer {layer} has NaN or inf entries")
            if width is not None and d.numel() != width:
                raise ValueError(f"directions differ in width ({width} vs {d.numel()}): one model per vector")
            width = d.numel()
            clean[layer] = d
        self.directions = clean
        for name in ("model_id", "method", "site", "layer_convention"):
            if not isinstance(getattr(self, name), str):
                raise ValueError(f"{name} must be a string, got {getattr(self, name)!r}")
        if not isinstance(self.extra, dict):
            raise ValueError(f"extra must be a dict, got {type(self.extra).__name__}")
        if self.n_layers is not None and (isinstance(self.n_layers, bool) or not isinstance(self.n_layers, int)
                                          or self.n_layers < 1):
            raise ValueError(f"n_layers must be a positive integer or None, got {self.n_layers!r}")
        if self.normalization not in NORMALIZATIONS:
            raise ValueError(f"unknown normalization {self.normalization!r}: use one of {', '.join(NORMALIZATIONS)}")
        if self.n_layers is not None and max(clean) >= self.n_layers:
            raise ValueError(f"layer {max(clean)} is beyond n_layers={self.n_layers}")
        if isinstance(self.coefficient, bool) or not isinstance(self.coefficient, Real) or not math.isfinite(
                self.coefficient):
            raise ValueError(f"coefficient must be a finite number, got {self.coefficient!r}")
        self.coefficient = float(self.coefficient)

    @property
    def d_model(self) -> int:
        """Width of every direction."""
        return next(iter(self.directions.values())).numel()

    @property
    def layers(self) -> list[int]:
        """Sorted layer indices."""
        return sorted(self.directions)

    def __getitem__(self, layer: int) -> Float[Tensor, " d_model"]:
        return self.directions[layer]

    def __repr__(self) -> str:
        return (f"SteeringVector(model_id={self.model_id!r}, layers={self.layers}, d_model={self.d_model}, "
                f"method={self.method!r}, normalization={self.normalization!r}, coefficient={self.coefficient})")

    # ----------------------------------------------------------------- arithmetic
    def _combine(self, other: SteeringVector, sign: float) -> SteeringVector:
        if not isinstance(other, SteeringVector):
            return NotImplemented
        if other.d_model != self.d_model:
            raise ValueError(f"cannot combine vectors of width {self.d_model} and {other.d_model}")
        if self.model_id and other.model_id and self.model_id != other.model_id:
            logger.warning("combining vectors from different models (%s, %s)", self.model_id, other.model_id)
        out = dict(self.directions)
        for layer, d in other.directions.items():
            out[layer] = out[layer] + sign * d if layer in out else sign * d
        op = "+" if sign > 0 else "-"
        return replace(self, directions=out, method=f"({self.method}){op}({other.method})", normalization="none",
                       n_layers=self.n_layers or other.n_layers, extra={})

    def __add__(self, other: SteeringVector) -> SteeringVector:
        return self._combine(other, 1.0)

    def __sub__(self, other: SteeringVector) -> SteeringVector:
        return self._combine(other, -1.0)

    def __mul__(self, scalar: float) -> SteeringVector:
        if not isinstance(scalar, Real):
            return NotImplemented
        norm = self.normalization if scalar == 1 else "none"
        return replace(self, directions={k: float(scalar) * v for k, v in self.directions.items()},
                       normalization=norm, extra=dict(self.extra))

    __rmul__ = __mul__

    def __truediv__(self, scalar: float) -> SteeringVector:
        if not isinstance(scalar, Real):
            return NotImplemented
        return self * (1.0 / float(scalar))

    def __neg__(self) -> SteeringVector:
        return self * -1.0

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SteeringVector):
            return NotImplemented
        return self.metadata() == other.metadata() and all(
            torch.equal(self.directions[k], other.directions[k]) for k in self.layers)

    __hash__ = None  # mutable container of tensors

    # ----------------------------------------------------------------- selection / checks
    def select(self, layers) -> SteeringVector:
        """The same vector restricted to ``layers`` (an int or a list).

        Example:
            >>> vector.select([10, 12]).layers
            [10, 12]
        """
        wanted = [layers] if isinstance(layers, int) else list(layers)
        missing = [layer for layer in wanted if layer not in self.directions]
        if missing:
            raise ValueError(f"vector has no layer {missing[0]} (it has {self.layers})")
        return replace(self, directions={k: self.directions[k] for k in wanted}, extra=dict(self.extra))

    def validate_for(self, model) -> None:
        """Fail with a one-line message if this vector cannot steer ``model``.

        Args:
            model: A :class:`veracity.hooks.VeracityModel`.

        Raises:
            ValueError: Width mismatch, or a layer beyond the model's depth.
        """
        if self.d_model != model.d_model:
            raise ValueError(f"vector has d_model={self.d_model}, model has {model.d_model}: "
                             "build the vector on this model")
        if max(self.directions) >= model.n_layers:
            raise ValueError(f"vector has layer {max(self.directions)}, model {model.model_id} has only "
                             f"{model.n_layers} blocks (0..{model.n_layers - 1}): build the vector on this model")
        if self.model_id and model.model_id and self.model_id != model.model_id:
            logger.warning("vector was built on %s, applying it to %s", self.model_id, model.model_id)

    # ----------------------------------------------------------------- I/O
    def metadata(self) -> dict[str, Any]:
        """Everything but the tensors, JSON-serialisable."""
        return {"class": type(self).__name__, "d_model": self.d_model, "layers": self.layers,
                **{name: getattr(self, name) for name in _metadata_fields()}}

    def save(self, path: str | os.PathLike) -> tuple[Path, Path]:
        """Write ``NAME.safetensors`` (``direction.L`` tensors) + ``NAME.json`` atomically.

        Args:
            path: ``NAME``, ``NAME.json`` or ``NAME.safetensors``.

        Returns:
            The two paths written.

        Example:
            >>> vector.save("artifacts/honesty")
        """
        tensors = {f"direction.{k}": v for k, v in self.directions.items()}
        return save_artifact(path, tensors, self.metadata())

    @classmethod
    def from_metadata(cls, directions: dict[int, Tensor], meta: dict[str, Any]) -> SteeringVector:
        """A vector from its directions and a :meth:`metadata` record (unknown keys are ignored)."""
        return cls(directions, **{k: meta[k] for k in _metadata_fields() if k in meta})

    @classmethod
    def load(cls, path: str | os.PathLike) -> SteeringVector:
        """Read a vector written by :meth:`save`.

        Args:
            path: ``NAME``, ``NAME.json`` or ``NAME.safetensors``.

        Returns:
            The vector.

        Example:
            >>> vector = SteeringVector.load("artifacts/honesty.json")
        """
        tensors, meta = load_artifact(path)
        if "class" not in meta:
            raise ValueError(f"{path} has no \"class\" field: it is not a veracity artifact, or its JSON was edited; "
                             "save the vector again with SteeringVector.save")
        if meta.get("class") != cls.__name__:
            raise ValueError(f"{path} holds a {meta.get('class')!r}, not a SteeringVector")
        return cls.from_tensors(tensors, meta, source=path)

    @classmethod
    def from_tensors(cls, tensors: dict[str, Tensor], meta: dict[str, Any], source: Any = "vector") -> SteeringVector:
        """A vector from ``direction.L`` tensors and a :meth:`metadata` record, every part checked.

        Raises:
            ValueError: A tensor name that is not ``direction.L``, no tensors, a direction that is
                not 1-D and finite, or JSON (``layers``, ``d_model``, fields) that disagrees with them.
        """
        damaged = "the file is damaged or was not written by veracity: build and save the vector again"
        directions = {}
        for name, tensor in tensors.items():
            prefix, _, index = name.partition(".")
            if prefix != "direction" or not index.isdigit():
                raise ValueError(f"{source}: unexpected tensor {name!r} (a vector holds direction.L tensors): {damaged}")
            directions[int(index)] = tensor
        if not directions:
            raise ValueError(f"{source} holds no direction.L tensors: {damaged}")
        if not isinstance(meta, dict):
            raise ValueError(f"{source}: the metadata is a JSON {type(meta).__name__}, not an object: {damaged}")
        try:
            vector = cls.from_metadata(directions, meta)
        except ValueError as err:
            raise ValueError(f"{source}: {err}") from None
        if "layers" in meta and meta["layers"] != vector.layers:
            raise ValueError(f"{source}: tensors hold layers {vector.layers} but the JSON says {meta['layers']}: {damaged}")
        if vector.d_model != meta.get("d_model", vector.d_model):
            raise ValueError(f"{source}: tensors have width {vector.d_model} but the JSON says {meta['d_model']}: "
                             f"{damaged}")
        return vector


def _metadata_fields() -> tuple[str, ...]:
    """Every field of :class:`SteeringVector` but the tensors (the field list is written once, above)."""
    return tuple(f.name for f in fields(SteeringVector) if f.name != "directions")
