"""The same texts at one layer on a series of checkpoints: models, or LoRA adapters over one base.

Pairs with :func:`veracity.probes.read_across`, which reads one fixed probe on all of them.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from jaxtyping import Float
from torch import Tensor

from veracity.hooks.extract import extract
from veracity.hooks.model import VeracityModel, load_model

__all__ = ["extract_checkpoints"]


def extract_checkpoints(checkpoints: Sequence[VeracityModel | str | os.PathLike], texts: Sequence[str], layer: int,
                        base: str | None = None, **kwargs) -> dict[str, Float[Tensor, "n d_model"]]:
    """Activations of ``texts`` after block ``layer`` on each checkpoint, loaded one at a time.

    Args:
        checkpoints: Each a loaded model, a model name or folder, or a LoRA adapter folder (one holding
            ``adapter_config.json``; then ``base`` names the model it adapts).
        texts: The texts, the same for every checkpoint.
        layer: One layer (layer ``L`` = residual stream after block ``L``).
        base: The base model of adapter checkpoints (a name or folder).
        **kwargs: Passed to :func:`veracity.hooks.load_model` (``device``, ``dtype``, ``backend``) for
            checkpoints given by name, and ``batch_size``/``position`` to :func:`veracity.hooks.extract`.

    Returns:
        Checkpoint model id (``NAME+adapter:FOLDER`` for adapters) -> ``(n, d_model)`` activations, in order.

    Raises:
        ValueError: An adapter folder without ``base``, or two checkpoints with the same model id.

    Example:
        >>> acts = extract_checkpoints(["artifacts/run/epoch_1", "artifacts/run/epoch_2"], texts, 15,
        ...                            base="smollm2-135m")  # doctest: +SKIP
    """
    load_keys = {"device", "dtype", "backend"}
    load_kwargs = {k: v for k, v in kwargs.items() if k in load_keys}
    extract_kwargs = {"progress": False, **{k: v for k, v in kwargs.items() if k not in load_keys}}
    out: dict[str, Tensor] = {}
    for checkpoint in checkpoints:
        if isinstance(checkpoint, VeracityModel):
            model = checkpoint
        elif (Path(checkpoint) / "adapter_config.json").is_file():
            if base is None:
                raise ValueError(f"{checkpoint} is a LoRA adapter: pass base= (the model it adapts)")
            model = load_model(base, adapter=checkpoint, **load_kwargs)
        else:
            model = load_model(str(checkpoint), **load_kwargs)
        if model.model_id in out:
            raise ValueError(f"two checkpoints are both {model.model_id!r}: give each a distinct folder name")
        out[model.model_id] = extract(model, texts, layers=[layer], **extract_kwargs)[:, 0]
    return out
