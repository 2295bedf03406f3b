"""Capture the residual stream with hooks that are always removed.

Every install is a context manager built on removable handles: only the hooks it added are
removed, on success, on exception and when nested. The forward pass stops right after the
deepest requested block (:class:`StopForward`), so later blocks and the unembedding never run.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

from jaxtyping import Float
from torch import Tensor, nn

from veracity.hooks.backends import StopForward
from veracity.hooks.model import VeracityModel


def resid_post_module(model: VeracityModel, layer: int) -> nn.Module:
    """The module whose forward output is the residual stream after block ``layer``.

    For ``hf`` and ``nnsight`` that is the Hugging Face decoder block itself; for
    ``transformer_lens`` it is the bridge's ``blocks.L.hook_out`` (alias ``hook_resid_post``).
    """
    return model.engine.resid_module(layer)


def hidden_of(output) -> Tensor:
    """Hidden states from a block's output (a tensor, or a tuple whose first entry is one)."""
    return output[0] if isinstance(output, tuple) else output


@contextlib.contextmanager
def capture_residual(
    model: VeracityModel, layers: Sequence[int], stop: bool = True
) -> Iterator[dict[int, Float[Tensor, "batch pos d_model"]]]:
    """Record the residual stream after each block in ``layers`` during forward passes.

    Args:
        model: A model from :func:`veracity.hooks.load_model` (any backend).
        layers: Block indices (layer convention in :mod:`veracity.hooks.convention`).
        stop: Raise :class:`StopForward` after the deepest layer; the caller catches it.

    Yields:
        A dict filled as the model runs: ``{layer: hidden}`` of the latest forward pass.

    Example:
        >>> with capture_residual(model, [3, 5]) as store:
        ...     try:
        ...         model.engine.forward(input_ids, attention_mask)
        ...     except StopForward:
        ...         pass
        >>> store[5].shape
    """
    store: dict[int, Tensor] = {}
    deepest = max(layers)
    handles = []

    def make_hook(layer: int):
        @veracity_hook
        def hook(_module, _args, output):
            store[layer] = hidden_of(output).detach()
            if stop and layer == deepest:
                raise StopForward

        return hook

    try:
        for layer in sorted(set(layers)):
            handles.append(resid_post_module(model, layer).register_forward_hook(make_hook(layer)))
        yield store
    finally:
        for handle in handles:
            handle.remove()


def veracity_hook(fn):
    """Mark ``fn`` as a hook veracity installed (what :func:`count_hooks` counts)."""
    fn._veracity_hook = True
    return fn


def observer(hook):
    """Mark a forward hook that only reads (counts calls, logs shapes) and returns nothing.

    The activation cache may then answer while it is registered (:func:`user_hooks` leaves it out).
    Returns the hook itself, so it works as a decorator or around a callable object.

    Example:
        >>> handle = model.hf_model.model.layers[3].register_forward_hook(observer(lambda m, a, out: seen.append(1)))
    """
    hook._veracity_observer = True
    return hook


BACKEND_PACKAGES = ("veracity.", "transformer_lens", "nnsight", "accelerate", "transformers", "peft", "torch")
"""Packages whose hooks belong to a backend, not to the user (a TransformerLens bridge adds its own)."""


def user_hooks(model: VeracityModel) -> list[str]:
    """Forward (pre-)hooks the user registered on the model outside veracity, as ``"module: hook"`` names.

    A hook changes what the model computes, and so what the activation cache would have to be keyed
    by: :func:`~veracity.hooks.extract` computes afresh while any is present. Counted: hooks on the
    model's modules and PyTorch's global module hooks, except veracity's own, those defined in a
    backend's package (:data:`BACKEND_PACKAGES`) and those marked with :func:`observer`.
    """
    import torch.nn.modules.module as torch_module

    def foreign(hook) -> bool:
        if getattr(hook, "_veracity_hook", False) or getattr(hook, "_veracity_observer", False):
            return False
        origin = getattr(hook, "__module__", None) or getattr(getattr(hook, "func", None), "__module__", "") or ""
        return not origin.startswith(BACKEND_PACKAGES)

    found = [f"(global): {getattr(h, '__qualname__', h)!s}"
             for h in [*torch_module._global_forward_hooks.values(), *torch_module._global_forward_pre_hooks.values()]
             if foreign(h)]
    for name, module in model.hf_model.named_modules():
        for hook in [*module._forward_hooks.values(), *module._forward_pre_hooks.values()]:
            if foreign(hook):
                found.append(f"{name or '(model)'}: {getattr(hook, '__qualname__', hook)!s}")
    return found


def count_hooks(model: VeracityModel) -> int:
    """Number of forward (pre-)hooks veracity has installed on the model and its wrapper.

    Hooks of the backend itself (a TransformerLens bridge adds its own) and of the user are not
    counted: the number is 0 whenever no veracity context is open.
    """
    seen, total = set(), 0
    for root in [model.hf_model, *model.engine.hook_roots()]:
        for module in root.modules():
            if id(module) in seen:
                continue
            seen.add(id(module))
            hooks = [*module._forward_hooks.values(), *module._forward_pre_hooks.values()]
            total += sum(bool(getattr(h, "_veracity_hook", False)) for h in hooks)
    return total
