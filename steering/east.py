"""EAST: Entropic Activation Steering (Rahn et al. 2024, "Controlling LLM Agents with EAST").

From logged decision prompts with action-distribution entropies ``H_i`` and representations
``h_i`` (one layer, one position), the vector is the entropy-weighted sum of centred
representations, ``v = sum_i (H_i - mean H) (h_i - mean h)``, normalised. Adding it should make
the agent's action distribution more uncertain (higher entropy); subtracting it, more decided.
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
from veracity.probes.directions import unit, weighted_mean_difference
from veracity.steering.calibrate import with_calibrated_coefficient
from veracity.steering.vector import SteeringVector

__all__ = ["east_directions", "east_vector"]

logger = logging.getLogger(__name__)


def east_directions(
    acts: Float[Tensor, "n layer d_model"], entropies: Float[Tensor, " n"]
) -> tuple[Float[Tensor, "layer d_model"], dict[str, list[float]]]:
    """Unit EAST directions per layer, and statistics.

    Args:
        acts: Representations of each logged prompt.
        entropies: Entropy of the action distribution at each prompt.

    Returns:
        ``(units, stats)``: unit directions ``(layer, d_model)``; ``stats`` has per-layer
        ``resid_norm`` (mean activation norm), ``raw_norm`` (norm before normalising) and
        ``corr`` (Pearson correlation between ``h_i . v`` and ``H_i``).

    Example:
        >>> units, stats = east_directions(torch.randn(10, 1, 8), torch.rand(10))
        >>> units.shape
        torch.Size([1, 8])
    """
    if acts.dim() != 3 or entropies.dim() != 1 or acts.shape[0] != entropies.shape[0]:
        raise ValueError(f"need acts (n, layer, d_model) and entropies (n,), got {tuple(acts.shape)} and "
                         f"{tuple(entropies.shape)}")
    h = acts.double()
    weights = entropies.double() - entropies.double().mean()
    if acts.shape[0] < 2 or torch.all(weights == 0):
        raise ValueError("EAST needs at least 2 prompts whose action entropies differ")
    raw = weighted_mean_difference(h, entropies.double())
    norms = raw.norm(dim=-1, keepdim=True)
    units = unit(raw, "EAST direction")
    proj = torch.einsum("nld,ld->nl", h, units)
    proj_c = proj - proj.mean(0)
    corr = (proj_c * weights[:, None]).sum(0) / (proj_c.norm(dim=0) * weights.norm()).clamp_min(1e-12)
    stats = {"resid_norm": h.norm(dim=-1).mean(0).tolist(), "raw_norm": norms[:, 0].tolist(), "corr": corr.tolist()}
    return units.float(), stats


def east_vector(
    model: VeracityModel,
    prompts: Sequence[str],
    entropies: Float[Tensor, " n"],
    layers=15,
    position="last",
    normalization: str = "resid",
    batch_size: int = 16,
    calibrate: bool = True,
) -> SteeringVector:
    """The EAST steering vector from logged prompts and their action entropies.

    Args:
        model: The agent's model.
        prompts: Decision prompts (e.g. ``Episodes.prompts`` from :func:`veracity.steering.bandit.play`).
        entropies: Entropy of the action distribution at each prompt.
        layers: Layer(s) to read and later steer (layer ``L`` = after block ``L``).
        position: Token position passed to :func:`veracity.hooks.extract` (``"last"``, ``"mean"``, an int).
        normalization: ``"unit"`` (norm 1) or ``"resid"`` (norm = mean residual norm at that
            layer, so the coefficient is a fraction of the typical residual norm).
        batch_size: Prompts per forward pass.
        calibrate: Set the suggested coefficient on neutral text (:mod:`veracity.steering.calibrate`).

    Returns:
        A :class:`SteeringVector` with method ``"east"``.

    Example:
        >>> log = play(model, Bandit.random(5), n_episodes=8, n_rounds=6)
        >>> vector = east_vector(model, log.prompts, entropy(log.prob_matrix()), layers=15)
    """
    if normalization not in ("unit", "resid"):
        raise ValueError(f"unknown normalization {normalization!r} for EAST: use 'unit' or 'resid'")
    entropies = torch.as_tensor(entropies, dtype=torch.float32).reshape(-1)
    if len(prompts) != entropies.numel():
        raise ValueError(f"{len(prompts)} prompts but {entropies.numel()} entropies: pass one per prompt")
    layer_list = resolve_layers(layers, model.n_layers, model.model_id)
    acts = extract(model, list(prompts), layer_list, position=position, batch_size=batch_size, progress=False)
    units, stats = east_directions(acts, entropies)
    if normalization == "resid":
        units = units * torch.tensor(stats["resid_norm"], dtype=units.dtype)[:, None]
    logger.info("EAST corr(projection, entropy) by layer: %s",
                {layer: round(c, 3) for layer, c in zip(layer_list, stats["corr"])})
    vector = SteeringVector(
        {layer: units[j] for j, layer in enumerate(layer_list)},
        model_id=model.model_id,
        n_layers=model.n_layers,
        method="east",
        normalization=normalization,
        extra={"position": position, "n_prompts": len(prompts), "entropy_mean": float(entropies.mean()),
               "entropy_std": float(entropies.std()) if entropies.numel() > 1 else 0.0,
               "model_type": str(getattr(model.config, "model_type", "") or ""),
               **{k: dict(zip(map(str, layer_list), v)) for k, v in stats.items()}},
    )
    return with_calibrated_coefficient(model, vector) if calibrate else vector
