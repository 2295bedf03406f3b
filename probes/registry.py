"""Class registry for saved artifacts: the JSON names a class, the loader dispatches on it.

Every probe and calibrator class registers itself with :func:`register`; :func:`load_probe`
reads ``NAME.json``, looks the class up here and rebuilds a fitted object.
"""

from __future__ import annotations

import os
from typing import Any, TypeVar

from veracity.probes.io import load_artifact

__all__ = ["REGISTRY", "load_probe", "register"]

REGISTRY: dict[str, type] = {}
"""Class name (as written in ``NAME.json``) to class."""

T = TypeVar("T", bound=type)


def register(cls: T) -> T:
    """Class decorator: make ``cls`` loadable by :func:`load_probe` under its own name.

    Args:
        cls: A class with a ``_from_artifact(tensors, meta)`` classmethod.

    Returns:
        ``cls`` unchanged.

    Raises:
        ValueError: A class from another module already holds the name.

    Example:
        >>> @register
        ... class MyProbe(BaseProbe): ...  # doctest: +SKIP
    """
    name = cls.__name__
    old = REGISTRY.get(name)
    same_origin = old is not None and (old.__module__, old.__qualname__) == (
        cls.__module__, cls.__qualname__)  # a reloaded module re-registers its own class
    if old is not None and not same_origin:
        raise ValueError(f"a class named {name!r} is already registered (from {old.__module__}): "
                         "rename one of them")
    REGISTRY[name] = cls
    return cls


def load_probe(path: str | os.PathLike) -> Any:
    """Load any registered probe or calibrator saved with ``.save(path)``.

    Args:
        path: ``NAME``, ``NAME.safetensors`` or ``NAME.json``.

    Returns:
        A fitted object of the class named in ``NAME.json``.

    Raises:
        ValueError: The JSON names a class this registry does not know.

    Example:
        >>> probe = load_probe("artifacts/probes/layer12")  # doctest: +SKIP
        >>> probe.predict_true(acts)  # doctest: +SKIP
    """
    tensors, meta = load_artifact(path)
    name = meta.get("class")
    if name is None:
        raise ValueError(f"{path} has no \"class\" field: it is not a veracity artifact, or its JSON was edited; "
                         "save the probe again with probe.save")
    if name not in REGISTRY:
        known = ", ".join(sorted(REGISTRY))
        raise ValueError(f"{path}: unknown class {name!r}; known classes: {known}")
    return REGISTRY[name]._from_artifact(tensors, meta, source=path)
