"""The one layer convention, and the one ``--layers`` grammar.

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
import re

SITE = "resid_post"
LAYER_CONVENTION = "L = residual stream after block L (blocks.L.hook_resid_post; HF hidden_states[L+1])"


LAYER_SPEC_HELP = "all, every:K, comma-separated layers such as 5,20, or ranges such as 10:20 (end excluded) and 0:30:5"
"""The one ``--layers`` grammar, as the error messages and ``--help`` texts name it."""

_INT = r"-?\d+"
_PIECE = re.compile(rf"^(?:all|every:(?P<every>\d+)|(?P<one>{_INT})|(?P<a>{_INT})?:(?P<b>{_INT})?(?::(?P<k>\d+))?)$")


def check_layer_spec(spec: str) -> None:
    """Raise ``ValueError`` (one line naming the grammar) unless ``spec`` is a valid ``--layers`` value.

    The grammar: comma-separated pieces, each ``all``, ``every:K`` (layers 0, K, 2K, ...), one layer
    (negative counts from the end) or a range ``A:B`` / ``A:B:K`` (Python slice: B excluded, ends optional).
    Checked without a model, so a study refuses a bad value before it loads one.
    """
    pieces = str(spec).replace(" ", "").split(",")
    for piece in pieces:
        match = _PIECE.match(piece)
        if match is None:
            raise ValueError(f"--layers {spec!r}: use {LAYER_SPEC_HELP}")
        for step in (match.group("every"), match.group("k")):
            if step is not None and int(step) < 1:
                raise ValueError(f"--layers {spec!r}: a step must be at least 1")


def layers_from_spec(spec: str, n_layers: int, model_id: str = "model") -> list[int]:
    """Resolve a ``--layers`` value (see :func:`check_layer_spec`) against a model with ``n_layers`` blocks.

    Returns:
        Layer indices in the order given, each once.

    Example:
        >>> layers_from_spec("every:4", 10), layers_from_spec("0,-1", 10), layers_from_spec("2:8:3", 10)
        ([0, 4, 8], [0, 9], [2, 5])
    """
    check_layer_spec(spec)
    out: list[int] = []
    every_layer = list(range(n_layers))
    for piece in str(spec).replace(" ", "").split(","):
        match = _PIECE.match(piece)
        if piece == "all":
            out += every_layer
        elif match.group("every"):
            out += every_layer[:: int(match.group("every"))]
        elif match.group("one") is not None:
            out += resolve_layers([int(match.group("one"))], n_layers, model_id)
        else:
            ends = [match.group("a"), match.group("b")]
            if any(end is not None and abs(int(end)) > n_layers for end in ends):
                raise ValueError(f"--layers {piece}: the range reaches past {model_id}'s {n_layers} layers "
                                 f"(0..{n_layers - 1})")
            a, b = (None if end is None else int(end) for end in ends)
            chosen = every_layer[slice(a, b, int(match.group("k") or 1))]
            if not chosen:
                raise ValueError(f"--layers {piece}: the range selects no layer of {model_id} ({n_layers} layers)")
            out += chosen
    return list(dict.fromkeys(out))


def resolve_layers(layers, n_layers: int, model_id: str = "model") -> list[int]:
    """Turn ``"all"``, a ``--layers`` string, an int or a list of ints (negative from the end) into checked indices.

    Args:
        layers: ``"all"``, any ``--layers`` string (``"every:4"``, ``"5,20"``, ``"10:20"``; see
            :func:`check_layer_spec`), one layer, or a sequence of layers.
        n_layers: How many blocks the model has.
        model_id: Named in the error message.

    Returns:
        Sorted-as-given list of non-negative layer indices.

    Raises:
        ValueError: A layer is out of range or the list is empty.
    """
    if isinstance(layers, str):
        return layers_from_spec(layers, n_layers, model_id)
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
