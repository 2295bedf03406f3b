"""The one layer convention, and where veracity keeps its files.

Layer ``L`` is the residual stream *after* block ``L`` (0-based):

- TransformerLens: ``blocks.L.hook_resid_post``
- Hugging Face: ``hidden_states[L + 1]`` for ``L < n_layers - 1``. Hugging Face's last entry
  ``hidden_states[n_layers]`` has the final norm applied; our layer ``n_layers - 1`` is the raw
  residual stream before that norm, the same as TransformerLens.
- llama.cpp control vectors: ``direction.L`` (see ``veracity.steering.export``).

Every artifact records :data:`LAYER_CONVENTION` and :data:`SITE`.
"""

from __future__ import annotations

import numbers
import os
from pathlib import Path

SITE = "resid_post"
LAYER_CONVENTION = "L = residual stream after block L (blocks.L.hook_resid_post; HF hidden_states[L+1])"


def veracity_home() -> Path:
    """Return the folder for caches and outputs.

    ``$VERACITY_HOME`` if set; else ``artifacts/`` of the source checkout this package runs from;
    else ``~/.cache/veracity``.

    Returns:
        The folder (not created).
    """
    if env := os.environ.get("VERACITY_HOME"):
        return Path(env).expanduser()
    checkout = Path(__file__).resolve().parent.parent
    if (checkout / "pyproject.toml").is_file():
        return checkout / "artifacts"
    return Path.home() / ".cache" / "veracity"


def resolve_layers(layers, n_layers: int, model_id: str = "model") -> list[int]:
    """Turn ``"all"``, an int or a list of ints (negative counts from the end) into checked indices.

    Args:
        layers: ``"all"``, one layer, or a sequence of layers.
        n_layers: How many blocks the model has.
        model_id: Named in the error message.

    Returns:
        Sorted-as-given list of non-negative layer indices.

    Raises:
        ValueError: A layer is out of range or the list is empty.
    """
    if isinstance(layers, str):
        if layers != "all":
            raise ValueError(f"layers must be 'all', an int or a list of ints, got {layers!r}")
        return list(range(n_layers))
    if isinstance(layers, numbers.Integral) and not isinstance(layers, bool):
        layers = [int(layers)]
    out = []
    for layer in layers:
        if isinstance(layer, bool) or not isinstance(layer, numbers.Integral):
            raise ValueError(f"layer {layer!r} is not an integer: pass whole block indices such as 3 or -1")
        idx = int(layer) + n_layers if int(layer) < 0 else int(layer)
        if not 0 <= idx < n_layers:
            raise ValueError(
                f"layer {layer} is out of range for {model_id} ({n_layers} layers: 0..{n_layers - 1})"
            )
        out.append(idx)
    if not out:
        raise ValueError("no layers requested: pass 'all' or at least one layer index")
    return out
