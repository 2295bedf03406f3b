"""Reading vectors from contrast pairs (Representation Engineering, Zou et al. 2023) and probes.

Given activations of paired stimuli (the same content in a positive and a negative condition),
the direction per layer is either

- ``"pca"``: the first principal component of the pair differences. As in RepE, a seeded
  random half of the differences is sign-flipped first (:func:`flip_signs`), so the (centred)
  PCA finds the contrast axis instead of the spread around the mean difference; or
- ``"mean_diff"``: the mean of ``positive - negative``.

The sign is fixed so that the positive member projects higher than its partner in most pairs.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import torch
from jaxtyping import Float
from torch import Tensor

from veracity.hooks.convention import resolve_layers
from veracity.hooks.extract import extract
from veracity.hooks.model import VeracityModel
from veracity.probes.directions import fix_sign, mean_difference, top_component, unit
from veracity.steering.calibrate import with_calibrated_coefficient
from veracity.steering.vector import NORMALIZATIONS, SteeringVector

__all__ = ["METHODS", "contrast_directions", "flip_signs", "from_probe", "pair_activations", "reading_vector",
           "scale_directions", "vector_from_activations"]

logger = logging.getLogger(__name__)

METHODS = ("pca", "mean_diff")


def flip_signs(n: int, seed: int = 0) -> Float[Tensor, " n"]:
    """``+1`` / ``-1`` per pair: the pairs at ``torch.randperm(n)[: n // 2]`` (seeded) get ``-1``."""
    signs = torch.ones(n, dtype=torch.float64)
    signs[torch.randperm(n, generator=torch.Generator().manual_seed(seed))[: n // 2]] = -1.0
    return signs


def contrast_directions(
    positive: Float[Tensor, "n layer d_model"],
    negative: Float[Tensor, "n layer d_model"],
    method: str = "pca",
    seed: int = 0,
) -> tuple[Float[Tensor, "layer d_model"], dict[str, list[float]]]:
    """Unit directions separating paired activations, one per layer, and statistics.

    Args:
        positive: Activations of the positive members (e.g. honest instruction).
        negative: Activations of their partners, same shape and order.
        method: ``"pca"`` or ``"mean_diff"``.
        seed: Seed of the random sign flips before PCA.

    Returns:
        ``(directions, stats)``: unit directions ``(layer, d_model)`` with the positive member
        projecting higher, and per-layer lists ``separation`` (share of pairs where it does),
        ``gap`` (mean projection of ``positive - negative``) and ``resid_norm`` (mean norm of
        all activations).

    Example:
        >>> dirs, stats = contrast_directions(torch.randn(8, 2, 16) + 1, torch.randn(8, 2, 16))
        >>> dirs.shape
        torch.Size([2, 16])
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}: use 'pca' or 'mean_diff'")
    if positive.shape != negative.shape or positive.dim() != 3:
        raise ValueError(f"positive and negative must both be (n, layer, d_model); got {tuple(positive.shape)} "
                         f"and {tuple(negative.shape)}")
    if positive.shape[0] < 2:
        raise ValueError("need at least 2 contrast pairs to find a direction")
    diffs = (positive - negative).double()
    if method == "mean_diff":
        raw = mean_difference(positive.double(), negative.double())
    else:
        raw = top_component(diffs * flip_signs(diffs.shape[0], seed)[:, None, None])
    units = unit(raw, "direction (the positive and negative activations are identical?)")
    units, _ = fix_sign(units, torch.einsum("nld,ld->nl", diffs, units))
    projected = torch.einsum("nld,ld->nl", diffs, units)
    stats = {
        "separation": (projected > 0).double().mean(0).tolist(),
        "gap": projected.mean(0).tolist(),
        "resid_norm": torch.cat([positive, negative]).double().norm(dim=-1).mean(0).tolist(),
    }
    return units.float(), stats


def scale_directions(
    units: Float[Tensor, "layer d_model"], normalization: str, stats: dict[str, list[float]]
) -> Float[Tensor, "layer d_model"]:
    """Scale unit directions: ``"unit"`` (as is), ``"resid"`` (x mean residual norm), ``"gap"`` (x mean gap).

    Args:
        units: Unit directions, one row per layer.
        normalization: ``"unit"``, ``"resid"`` or ``"gap"`` (``"none"`` is treated as ``"unit"``).
        stats: Per-layer ``resid_norm`` / ``gap`` lists as returned by :func:`contrast_directions`.

    Returns:
        The scaled directions.
    """
    if normalization not in NORMALIZATIONS:
        raise ValueError(f"unknown normalization {normalization!r}: use one of {', '.join(NORMALIZATIONS)}")
    if normalization in ("unit", "none"):
        return units
    key = "resid_norm" if normalization == "resid" else "gap"
    return units * torch.tensor(stats[key], dtype=units.dtype)[:, None].abs()


def pair_activations(
    model: VeracityModel, pairs: Sequence[tuple[str, str]], layers, position="last", batch_size: int = 16,
    progress: bool = True,
) -> tuple[Float[Tensor, "n layer d_model"], Float[Tensor, "n layer d_model"]]:
    """Activations of the positive and the negative member of each pair (via :func:`veracity.hooks.extract`).

    Args:
        model: From :func:`veracity.hooks.load_model`.
        pairs: ``(positive_text, negative_text)`` pairs, at least 2.
        layers: Resolved layer list.
        position: Token position (``"last"``, ``"mean"``, an int).
        batch_size: Texts per forward pass.
        progress: Show a progress bar per side.

    Returns:
        ``(positive, negative)``, each ``(n_pairs, len(layers), d_model)``.
    """
    if len(pairs) < 2 or any(len(p) != 2 for p in pairs):
        raise ValueError("pairs must be at least 2 (positive, negative) text pairs")
    logger.info("reading %d contrast pairs (positive, then negative texts)", len(pairs))
    pos = extract(model, [p[0] for p in pairs], layers, position=position, batch_size=batch_size, progress=progress)
    neg = extract(model, [p[1] for p in pairs], layers, position=position, batch_size=batch_size, progress=progress)
    return pos, neg


def vector_from_activations(
    model: VeracityModel,
    positive: Float[Tensor, "n layer d_model"],
    negative: Float[Tensor, "n layer d_model"],
    layers: Sequence[int],
    method: str = "pca",
    normalization: str = "unit",
    seed: int = 0,
    extra: dict | None = None,
    calibrate: bool = True,
) -> SteeringVector:
    """A :class:`SteeringVector` from paired activations (see :func:`contrast_directions`).

    Args:
        model: The model the activations came from (provenance).
        positive: Positive members' activations.
        negative: Their partners'.
        layers: The layer of each column of the activations.
        method: ``"pca"`` or ``"mean_diff"``.
        normalization: ``"unit"``, ``"resid"`` or ``"gap"``.
        seed: Seed of the PCA sign flips.
        extra: More facts for ``extra``.
        calibrate: Set ``coefficient`` to the largest that keeps the neutral-text KL under
            :data:`veracity.steering.calibrate.KL_BOUND` (a few forward passes).

    Returns:
        The vector, with per-layer ``separation``, ``gap`` and ``resid_norm`` in ``extra``.
    """
    units, stats = contrast_directions(positive, negative, method=method, seed=seed)
    scaled = scale_directions(units, normalization, stats)
    per_layer = {key: dict(zip(map(str, layers), values)) for key, values in stats.items()}  # JSON keys
    logger.info("reading vector (%s) separation by layer: %s", method,
                {k: round(v, 3) for k, v in per_layer["separation"].items()})
    vector = SteeringVector(
        {layer: scaled[j] for j, layer in enumerate(layers)},
        model_id=model.model_id,
        n_layers=model.n_layers,
        method=method,
        normalization=normalization,
        extra={"n_pairs": int(positive.shape[0]), "model_type": _model_type(model), **per_layer, **(extra or {})},
    )
    return with_calibrated_coefficient(model, vector) if calibrate else vector


def reading_vector(
    model: VeracityModel,
    pairs: Sequence[tuple[str, str]],
    layers="all",
    method: str = "pca",
    position="last",
    normalization: str = "unit",
    batch_size: int = 16,
    seed: int = 0,
    calibrate: bool = True,
) -> SteeringVector:
    """A steering vector from ``(positive_text, negative_text)`` pairs.

    Args:
        model: From :func:`veracity.hooks.load_model`.
        pairs: Contrast pairs; the vector points from the negative towards the positive member.
        layers: ``"all"``, an int or a list (layer ``L`` = after block ``L``).
        method: ``"pca"`` or ``"mean_diff"``.
        position: Token position passed to :func:`veracity.hooks.extract` (``"last"``, ``"mean"``, an int).
        normalization: ``"unit"``, ``"resid"`` or ``"gap"`` (see :data:`veracity.steering.vector.NORMALIZATIONS`).
        batch_size: Texts per forward pass.
        seed: Seed of the PCA sign flips.
        calibrate: Set its suggested ``coefficient`` from the neutral-text KL (a few forward passes); off where
            the caller picks its own coefficients.

    Returns:
        A :class:`SteeringVector` with per-layer ``separation``, ``gap`` and ``resid_norm`` in ``extra``.

    Example:
        >>> vector = reading_vector(model, [("I love it.", "I hate it."), ("Great!", "Awful!")], layers=[10])
    """
    layer_list = resolve_layers(layers, model.n_layers, model.model_id)
    pos, neg = pair_activations(model, pairs, layer_list, position, batch_size)
    return vector_from_activations(model, pos, neg, layer_list, method, normalization, seed,
                                   extra={"position": position}, calibrate=calibrate)


def from_probe(probe, layer: int | None = None, model: VeracityModel | None = None) -> SteeringVector:
    """Turn a fitted probe's ``direction_`` (unit, raw activation space) into a one-layer vector.

    Args:
        probe: A fitted probe from :mod:`probes` (anything with ``direction_``).
        layer: The layer its activations came from (default: the probe's provenance ``layer``).
        model: The model to steer (checks the width and records its id and depth).

    Returns:
        A unit-norm :class:`SteeringVector` pointing where the probe's label 1 (true) lies.

    Example:
        >>> vector = from_probe(probe, layer=12, model=model)
    """
    direction = getattr(probe, "direction_", None)
    if direction is None:
        raise ValueError(f"{type(probe).__name__} has no direction_: fit the probe first")
    provenance = dict(getattr(probe, "provenance", {}) or {})
    layer = provenance.get("layer") if layer is None else layer
    if layer is None:
        raise ValueError("the probe's provenance records no layer: pass layer=")
    direction = torch.as_tensor(direction, dtype=torch.float32).reshape(-1)
    if model is not None and direction.numel() != model.d_model:
        raise ValueError(f"probe has d_model={direction.numel()}, model has {model.d_model}: "
                         "fit the probe on this model's activations")
    return SteeringVector(
        {int(layer): direction / direction.norm()},
        model_id=model.model_id if model is not None else str(provenance.get("model_id", "")),
        n_layers=model.n_layers if model is not None else None,
        method=f"probe:{type(probe).__name__}",
        normalization="unit",
        extra={"probe_provenance": provenance, "sign": "points toward label 1 (true)",
               **({"model_type": _model_type(model)} if model is not None else {})},
    )


def _model_type(model: VeracityModel) -> str:
    return str(getattr(model.config, "model_type", "") or "")
