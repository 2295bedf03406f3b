"""``steer``: add ``coefficient * direction`` to the residual stream after chosen blocks.

One mechanism for all three backends: a forward hook on the module whose output is
``resid_post`` of layer ``L`` (:func:`veracity.hooks.capture.resid_post_module`): the Hugging Face
decoder block for ``hf`` and ``nnsight`` (nnsight runs the real modules, so torch hooks fire
inside its traces), and the bridge's ``blocks.L.hook_out`` for ``transformer_lens``.

Scopes (what a forward call is): a forward pre-hook on the Hugging Face model reads each call's
``past_key_values`` and ``attention_mask``. A call with an empty (or no) KV cache is a *prompt*
call; a call on top of a non-empty cache is a *generated* call (``generate``'s later steps).

- ``"all"``: every position of every call.
- ``"prompt"``: only prompt calls, i.e. the prompt positions when generating with a KV cache
  (``generate``'s default) and every plain forward call. The first new token is sampled from the
  steered prompt pass; later tokens are computed unsteered (but attend to the steered cache).
- ``"generated"``: only calls on top of a cache, i.e. tokens after the first new one. Without a
  KV cache (``use_cache=False``) every call looks like a prompt call: use ``"all"`` then.

Padding: when a call receives a 2-D ``attention_mask``, the addition is multiplied by it, so
padded positions are never steered (exactly ``h + c*v`` at real tokens). Padded positions never
influence real ones anyway (right padding sits after them under causal attention; left padding
is masked out), so results at real tokens do not depend on padding either way.

Coefficient 0 installs no hook for that layer, so the forward pass is bit-identical.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
from collections.abc import Iterator, Mapping, Sequence
from numbers import Integral, Real

import torch
from jaxtyping import Float
from torch import Tensor

from veracity.hooks.capture import hidden_of, resid_post_module, veracity_hook
from veracity.hooks.convention import resolve_layers
from veracity.hooks.model import VeracityModel
from veracity.steering.vector import SteeringVector

__all__ = ["SCOPES", "resolve_coefficients", "steer"]

logger = logging.getLogger(__name__)

SCOPES = ("all", "prompt", "generated")


class _CallState:
    """What the current forward call is: cache length before it, and its 2-D attention mask."""

    def __init__(self):
        self.past_len = 0
        self.mask: Tensor | None = None

    def observe(self, _module, _args, kwargs):
        # transformers 5 passes the KV cache as ``cache``; earlier versions as ``past_key_values``.
        cache = kwargs.get("cache", kwargs.get("past_key_values"))
        self.past_len = _cache_length(cache)
        mask = kwargs.get("attention_mask")
        self.mask = mask if isinstance(mask, Tensor) and mask.dim() == 2 else None

    def active(self, scope: str) -> bool:
        return scope == "all" or (scope == "prompt") == (self.past_len == 0)

    def token_mask(self, batch: int, pos: int) -> Tensor | None:
        """The mask columns of the tokens in this call (``None`` if unknown or mismatched)."""
        if self.mask is None or self.mask.shape[0] != batch or self.mask.shape[1] < pos:
            return None
        return self.mask[:, -pos:]


def _cache_length(cache) -> int:
    if cache is None:
        return 0
    if hasattr(cache, "get_seq_length"):
        return int(cache.get_seq_length())
    try:  # legacy tuple-of-tuples cache: (layers)(key, value) with seq on dim -2
        return int(cache[0][0].shape[-2])
    except (TypeError, IndexError, AttributeError):
        return 0


def resolve_coefficients(
    model: VeracityModel,
    vector: SteeringVector,
    coefficient: float | Mapping[int, float] | None = None,
    layers: int | Sequence[int] | None = None,
) -> dict[int, float]:
    """Decide which layers get which coefficient.

    Args:
        model: The model (for negative layer indices).
        vector: The steering vector.
        coefficient: One number for every layer, ``{layer: number}``, or ``None`` for the
            vector's suggested coefficient.
        layers: Restrict to these layers (default: the keys of a dict coefficient, else all of
            the vector's layers).

    Returns:
        ``{layer: coefficient}`` in layer order.
    """
    chosen = None if layers is None else resolve_layers(layers, model.n_layers, model.model_id)
    if coefficient is None:
        coefficient = vector.coefficient
    numbers = coefficient.values() if isinstance(coefficient, Mapping) else [coefficient]
    if any(isinstance(c, bool) or not isinstance(c, Real) for c in numbers):
        raise TypeError(f"coefficient must be a number or a {{layer: number}} dict, got {coefficient!r}")
    if isinstance(coefficient, Mapping):
        if any(isinstance(k, bool) or not isinstance(k, Integral) for k in coefficient):
            raise TypeError(f"coefficient dict keys must be layer ints, got {list(coefficient)}")
        per_layer = {int(k) + (model.n_layers if int(k) < 0 else 0): float(v) for k, v in coefficient.items()}
        chosen = sorted(per_layer) if chosen is None else chosen
        missing = [layer for layer in chosen if layer not in per_layer]
        if missing:
            raise ValueError(f"coefficient dict has no entry for layer {missing[0]}: give one per steered layer")
    else:
        chosen = vector.layers if chosen is None else chosen
        per_layer = {layer: float(coefficient) for layer in chosen}
    bad = {layer: c for layer, c in per_layer.items() if not math.isfinite(c)}
    if bad:
        raise ValueError(f"steering coefficient {next(iter(bad.values()))} for layer {next(iter(bad))} is not finite: "
                         "pass a finite number")
    absent = [layer for layer in chosen if layer not in vector.directions]
    if absent:
        raise ValueError(f"vector has no direction for layer {absent[0]} (it has {vector.layers})")
    return {layer: per_layer[layer] for layer in sorted(chosen)}


SANE_SHIFT = 10.0
"""A shift longer than this many times the residual stream it is added to gets a warning (once per context)."""


def _make_hook(delta: Float[Tensor, " d_model"], state: _CallState, scope: str, layer: int = -1):
    checked = []

    @veracity_hook
    def hook(_module, _args, output):
        if not state.active(scope):
            return None
        hidden = hidden_of(output)
        if not checked:  # the first call: is the shift sane next to the stream it is added to?
            checked.append(True)
            stream, shift = float(hidden.detach().float().norm(dim=-1).mean()), float(delta.float().norm())
            if shift > SANE_SHIFT * stream:
                logger.warning("steering at layer %d adds a shift of norm %.3g, %.0fx the residual stream's mean norm "
                               "(%.3g) there: the model's output will be meaningless; use a smaller coefficient "
                               "(the vector's suggested one is calibrated on the model)", layer, shift,
                               shift / max(stream, 1e-30), stream)
        add = delta.to(hidden.device, hidden.dtype)
        mask = state.token_mask(hidden.shape[0], hidden.shape[1])
        if mask is not None:
            add = add * mask.to(hidden.dtype).unsqueeze(-1)
        steered = hidden + add
        return (steered, *output[1:]) if isinstance(output, tuple) else steered

    return hook


@contextlib.contextmanager
def steer(
    model: VeracityModel,
    vector: SteeringVector,
    coefficient: float | Mapping[int, float] | None = None,
    layers: int | Sequence[int] | None = None,
    scope: str = "all",
) -> Iterator[dict[int, float]]:
    """Add ``coefficient * vector[L]`` to the residual stream after block ``L`` while inside.

    Works for forward calls and ``generate`` on every backend (``model.hf_model``,
    ``model.module`` of ``transformer_lens`` or ``nnsight``). Hooks are removed on exit, also
    after an exception; nested contexts add up and remove only their own hooks.

    Args:
        model: From :func:`veracity.hooks.load_model`.
        vector: A :class:`SteeringVector` built for this model's width.
        coefficient: A number, ``{layer: number}``, or ``None`` for ``vector.coefficient``.
        layers: Only these of the vector's layers (default: all, or the dict's keys).
        scope: ``"all"``, ``"prompt"`` or ``"generated"`` (see the module docstring).

    Yields:
        ``{layer: coefficient}`` as applied.

    Example:
        >>> with steer(model, vector, coefficient=4.0):
        ...     out = model.module.generate(**inputs, max_new_tokens=20)  # your backend's own object
    """
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}: use 'all', 'prompt' or 'generated'")
    if not isinstance(vector, SteeringVector):
        raise TypeError(f"steer needs a SteeringVector, got {type(vector).__name__}: build one with "
                        "honesty_vector, east_vector or SteeringVector({layer: direction})")
    vector.validate_for(model)
    coefs = resolve_coefficients(model, vector, coefficient, layers)
    state = _CallState()
    handles = []
    record = {"scope": scope, "shifts": {str(layer): _digest(c * vector.directions[layer])
                                         for layer, c in coefs.items() if c != 0}}
    model.engine.steering.append(record)
    try:
        observe = veracity_hook(lambda module, args, kwargs: state.observe(module, args, kwargs))
        handles.append(model.engine.call_module().register_forward_pre_hook(observe, with_kwargs=True))
        for layer, c in coefs.items():
            if c == 0:
                continue  # exactly a no-op
            shift = c * vector.directions[layer]
            if not torch.isfinite(shift).all():
                raise ValueError(f"coefficient {c:g} times the vector at layer {layer} overflows to inf/NaN: use a "
                                 "coefficient near the vector's suggested one")
            hook = _make_hook(shift, state, scope, layer)
            handles.append(resid_post_module(model, layer).register_forward_hook(hook))
        logger.debug("steering %s at %s (scope %s)", model.model_id, coefs, scope)
        yield coefs
    finally:
        for handle in handles:
            handle.remove()
        model.engine.steering.remove(record)


def _digest(shift: Tensor) -> str:
    """SHA-256 of a shift's float32 bytes: identifies it in activation-cache keys."""
    return hashlib.sha256(shift.detach().to("cpu", torch.float32).contiguous().numpy().tobytes()).hexdigest()
