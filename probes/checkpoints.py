"""One fitted probe read on several checkpoints side by side, with a warning when it is read elsewhere.

A probe fitted on one model at one layer is a fixed instrument: applied unchanged to later
checkpoints (a fine-tune, a LoRA adapter, continued pre-training), its readings show how the
representation moved under it. That is a transfer, not a fit, so the probe's provenance
(``model_id`` and ``layer``, :meth:`~veracity.probes.base.ArtifactMixin.set_provenance`) is
compared with where it is read, and any difference is reported as a :class:`ProbeTransferWarning`.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import numpy as np
from jaxtyping import Float
from torch import Tensor

__all__ = ["ProbeTransferWarning", "read_across"]


class ProbeTransferWarning(UserWarning):
    """A probe read on another model or layer than it was fitted on (or with no record of either)."""


def read_across(probe, activations: Mapping[str, Float[Tensor, "n d_model"]],
                layer: int | None = None) -> dict[str, np.ndarray]:
    """P(true) of one fitted probe on each checkpoint's activations, side by side.

    Args:
        probe: Any fitted probe with ``predict_true`` (supervised layout ``(n, d_model)``).
        activations: Checkpoint model id -> its activations of the same texts at ``layer``
            (``veracity.hooks.extract_checkpoints`` builds this).
        layer: The layer the activations come from (compared with the probe's provenance).

    Returns:
        Checkpoint id -> P(true) per text, in the order given.

    Warns:
        ProbeTransferWarning: The probe records no ``model_id``/``layer``, or a checkpoint id or
            ``layer`` differs from the recorded one (one warning naming every difference).

    Example:
        >>> probe.set_provenance(model_id="smollm2-135m", layer=15)  # doctest: +SKIP
        >>> read_across(probe, {"smollm2-135m": a0, "smollm2-135m+adapter:poison": a1}, layer=15)  # doctest: +SKIP
    """
    if not activations:
        raise ValueError("read_across needs activations of at least one checkpoint: {model_id: (n, d_model)}")
    fitted = probe.provenance
    differences = []
    if "model_id" not in fitted or "layer" not in fitted:
        differences.append("the probe records no model_id/layer (call set_provenance(model_id=..., layer=...) "
                           "when fitting it)")
    else:
        differences += [f"{name!r}" for name in activations if name != fitted["model_id"]]
        if layer is not None and layer != fitted["layer"]:
            differences.append(f"layer {layer}")
    if differences:
        where = f"model {fitted.get('model_id', '?')!r}, layer {fitted.get('layer', '?')}"
        warnings.warn(f"a probe fitted on {where} is read on {', '.join(differences)}: its readings there are a "
                      "transfer, not a fit", ProbeTransferWarning, stacklevel=2)
    return {name: np.asarray(probe.predict_true(acts), dtype=np.float64) for name, acts in activations.items()}
