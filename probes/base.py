"""Shared behaviour of every probe: scikit-learn conventions, provenance, save and load.

A probe stores only hyperparameters in ``__init__``; ``fit`` returns ``self``; learned state ends
in ``_``. Every fitted probe has ``direction_`` (float32, unit norm, raw activation space),
``d_model_`` and ``classes_ = [0, 1]``. ``predict_proba`` returns P(label 1 = true) with shape
``(n,)`` as a float64 numpy array (note: scikit-learn classifiers return ``(n, 2)``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from jaxtyping import Float, Int, Real
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin
from torch import Tensor

from veracity.probes.io import load_artifact, save_artifact
from veracity.probes.validation import (
    Array,
    NotFittedError,
    check_activations,
    check_binary_labels,
    check_width,
)

__all__ = ["ArtifactMixin", "BaseProbe"]


class ArtifactMixin:
    """Provenance plus two-file save/load for any fitted estimator.

    Subclasses list their fitted state: ``_tensor_attrs`` (saved in ``.safetensors``) and
    ``_json_attrs`` (JSON-serialisable, saved under ``"state"`` in ``.json``).
    """

    _tensor_attrs: ClassVar[tuple[str, ...]] = ()
    _json_attrs: ClassVar[tuple[str, ...]] = ()
    sign_convention: ClassVar[str | None] = None

    def set_provenance(self, **provenance: Any) -> ArtifactMixin:
        """Record where the training activations came from; written into the JSON on save.

        Args:
            **provenance: JSON-serialisable facts, e.g. ``model_id``, ``layer``, ``site``,
                ``layer_convention``, ``dataset``. Repeated calls update the record.

        Returns:
            ``self``.

        Example:
            >>> probe.set_provenance(model_id="SmolLM2-135M", layer=12)  # doctest: +SKIP
        """
        self._provenance = {**getattr(self, "_provenance", {}), **provenance}
        return self

    @property
    def provenance(self) -> dict[str, Any]:
        """A copy of the provenance record (empty until :meth:`set_provenance`)."""
        return dict(getattr(self, "_provenance", {}))

    def _check_fitted(self) -> None:
        if not all(hasattr(self, a) for a in self._tensor_attrs + self._json_attrs):
            raise NotFittedError(f"{type(self).__name__} is not fitted yet: call fit first")

    def save(self, path: str | os.PathLike) -> tuple[Path, Path]:
        """Write ``path.safetensors`` + ``path.json`` (class, hyperparameters, provenance, ...).

        Args:
            path: ``NAME`` (``.safetensors`` / ``.json`` suffixes are stripped).

        Returns:
            The two paths written.

        Example:
            >>> probe.save("artifacts/probes/layer12")  # doctest: +SKIP
        """
        self._check_fitted()
        meta = {
            "class": type(self).__name__,
            "hyperparameters": self.get_params(deep=False),
            "provenance": self.provenance,
            "d_model": getattr(self, "d_model_", None),
            "sign_convention": self.sign_convention,
            "state": {a: getattr(self, a) for a in self._json_attrs},
        }
        tensors = {a: getattr(self, a) for a in self._tensor_attrs}
        return save_artifact(path, tensors, meta)

    @classmethod
    def load(cls, path: str | os.PathLike) -> Any:
        """Load an object of exactly this class saved with :meth:`save`.

        Args:
            path: ``NAME``, ``NAME.safetensors`` or ``NAME.json``.

        Returns:
            The fitted object.

        Raises:
            ValueError: The artifact holds another class (use ``veracity.probes.load_probe``).

        Example:
            >>> probe = LogisticProbe.load("artifacts/probes/layer12")  # doctest: +SKIP
        """
        tensors, meta = load_artifact(path)
        if meta.get("class") != cls.__name__:
            raise ValueError(
                f"{path} holds a {meta.get('class')}, not a {cls.__name__}: use veracity.probes.load_probe"
            )
        return cls._from_artifact(tensors, meta)

    @classmethod
    def _from_artifact(cls, tensors: dict[str, Tensor], meta: dict[str, Any]) -> Any:
        obj = cls(**meta["hyperparameters"])
        for name in cls._tensor_attrs:
            setattr(obj, name, tensors[name])
        for name in cls._json_attrs:
            setattr(obj, name, meta["state"][name])
        obj._provenance = dict(meta.get("provenance", {}))
        obj._restore_derived()
        return obj

    def _restore_derived(self) -> None:
        """Hook: rebuild non-saved fitted attributes after loading (default: nothing)."""


class BaseProbe(ArtifactMixin, ClassifierMixin, BaseEstimator):
    """Base class: a binary truth probe on activations, label 1 = true.

    Subclasses implement ``fit`` and ``decision_function`` (the logit of P(true)), set
    ``direction_`` and ``d_model_`` in ``fit`` and call :meth:`_finish_fit`. ``_input_trailing``
    names the axes between the batch axis and ``d_model``: ``()`` for plain activations,
    ``(2,)`` for contrast pairs, ``(2, 2)`` for polarity pairs.
    """

    _input_trailing: ClassVar[tuple[int, ...]] = ()
    _tensor_attrs: ClassVar[tuple[str, ...]] = ("direction_",)
    _json_attrs: ClassVar[tuple[str, ...]] = ("d_model_",)
    sign_convention: ClassVar[str | None] = "direction_ points toward label 1 (true)"

    def predict_proba(self, X: Float[Array, "n ... d_model"]) -> Float[np.ndarray, " n"]:
        """Probability that each example is true (label 1).

        Args:
            X: Activations, shape ``(n, *trailing, d_model)``.

        Returns:
            Float64 numpy array of shape ``(n,)``.
        """
        return expit(self.decision_function(X))

    def predict(self, X: Float[Array, "n ... d_model"]) -> Int[np.ndarray, " n"]:
        """Predicted labels: 1 where P(true) > 0.5, else 0 (int64 numpy array ``(n,)``)."""
        return (self.predict_proba(X) > 0.5).astype(np.int64)

    def score(
        self, X: Float[Array, "n ... d_model"], y: Real[Array, " n"], sample_weight: Any = None
    ) -> float:
        """Accuracy of :meth:`predict` against 0/1 labels ``y`` (one class is allowed here)."""
        if sample_weight is not None:
            raise ValueError("sample_weight is not supported: pass it as None")
        self._check_fitted()
        labels = check_binary_labels(y, n=len(X), require_both=False).numpy()
        return float(np.mean(self.predict(X) == labels))

    def decision_function(  # pragma: no cover - abstract
        self, X: Float[Array, "n ... d_model"]
    ) -> Float[np.ndarray, " n"]:
        """Logit of P(true), shape ``(n,)``."""
        raise NotImplementedError

    def _check_X(
        self, X: Float[Array, "n ... d_model"], dtype: torch.dtype = torch.float64
    ) -> Float[Tensor, "n ... d_model"]:
        """Check a fitted probe's input layout and width; return a float tensor."""
        self._check_fitted()
        x = check_activations(X, self._input_trailing, dtype=dtype)
        check_width(x, self.d_model_)
        return x

    def _finish_fit(self, direction: Tensor) -> None:
        """Store ``direction_`` (unit norm, float32), ``d_model_`` and ``classes_``."""
        direction = direction.detach().to("cpu", torch.float64).reshape(-1)
        norm = direction.norm()
        if not torch.isfinite(norm) or norm == 0:
            raise ValueError(f"{type(self).__name__} found no direction (zero or non-finite "
                             "norm): check that the classes differ")
        self.direction_ = (direction / norm).to(torch.float32)
        self.d_model_ = int(direction.numel())
        self.classes_ = np.array([0, 1])

    def _restore_derived(self) -> None:
        self.classes_ = np.array([0, 1])
