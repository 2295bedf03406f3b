"""Shared behaviour of every probe: scikit-learn conventions, provenance, save and load.

A probe stores only hyperparameters in ``__init__``; ``fit`` returns ``self``; learned state ends
in ``_``. Every fitted probe has ``direction_`` (float32, unit norm, raw activation space),
``d_model_``, ``n_features_in_`` and ``classes_``. As in scikit-learn, ``predict_proba`` returns
``(n, 2)`` with P(true) in column 1 (the class ``classes_[1]``), ``predict_log_proba`` its log,
and ``decision_function`` the logit of column 1 as ``(n,)``. Supervised probes accept labels as
any two classes scikit-learn accepts (``classes_`` sorted, the larger one is "true": 1, True,
"true" > "false"); unsupervised ones use ``classes_ = [0, 1]``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from jaxtyping import Float
from scipy.special import expit, log_expit
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import validate_data
from torch import Tensor

from veracity.constraints import check_constraints, declared
from veracity.probes.io import load_artifact, save_artifact
from veracity.probes.validation import (
    Array,
    NotFittedError,
    check_activations,
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
        if "class" not in meta:
            raise ValueError(f"{path} has no \"class\" field: it is not a veracity artifact, or its JSON was edited; "
                             "save the probe again with probe.save")
        if meta.get("class") != cls.__name__:
            raise ValueError(
                f"{path} holds a {meta.get('class')}, not a {cls.__name__}: use veracity.probes.load_probe"
            )
        return cls._from_artifact(tensors, meta, source=path)

    @classmethod
    def _from_artifact(cls, tensors: dict[str, Tensor], meta: dict[str, Any], source: Any = "artifact") -> Any:
        """Rebuild a fitted object, checking every key, tensor and value first (one-line ``ValueError``)."""
        damaged = "the file is damaged or was not written by save(): fit and save it again"
        parts = {key: meta.get(key, {}) for key in ("hyperparameters", "state", "provenance")}
        for key, value in parts.items():
            if not isinstance(value, dict):
                raise ValueError(f"{source}: {key!r} must be a JSON object, not {type(value).__name__}: {damaged}")
        names, expected = set(tensors), set(cls._tensor_attrs)
        if names != expected:
            raise ValueError(f"{source}: a {cls.__name__} holds tensors {sorted(expected)}, the file has "
                             f"{sorted(names)}: {damaged}")
        missing = [name for name in cls._json_attrs if name not in parts["state"]]
        if missing:
            raise ValueError(f"{source}: the JSON's state lacks {missing}: {damaged}")
        try:
            obj = cls(**parts["hyperparameters"])
        except TypeError as err:
            raise ValueError(f"{source}: hyperparameters {sorted(parts['hyperparameters'])} do not fit "
                             f"{cls.__name__} ({err}): {damaged}") from None
        for name in cls._tensor_attrs:
            setattr(obj, name, tensors[name])
        for name in cls._json_attrs:
            setattr(obj, name, parts["state"][name])
        obj._provenance = dict(parts["provenance"])
        obj._restore_derived()
        try:
            obj._check_restored()
        except (ValueError, TypeError, RuntimeError, IndexError) as err:
            raise ValueError(f"{source}: the saved {cls.__name__} does not work ({err}): {damaged}") from None
        return obj

    def _check_restored(self) -> None:
        """Hook: raise if the restored state is inconsistent (default: nothing to check)."""

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
    _hyperparameter_constraints: ClassVar[dict] = {}
    """Hyperparameter -> what it may be (:mod:`veracity.constraints`), checked by :meth:`_check_params`."""

    def _check_params(self) -> None:
        """Check every hyperparameter against the constraints this class and its bases declare."""
        check_constraints(self, declared(type(self), "_hyperparameter_constraints"))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        tags.target_tags.required = not self._input_trailing  # contrast-pair probes fit without labels
        return tags

    def predict_true(self, X: Float[Array, "n ... d_model"]) -> Float[np.ndarray, " n"]:
        """P(true) of each example: column 1 of :meth:`predict_proba`, float64 ``(n,)``."""
        return expit(self.decision_function(X))

    def predict_proba(self, X: Float[Array, "n ... d_model"]) -> Float[np.ndarray, "n 2"]:
        """Class probabilities, scikit-learn's layout: ``[P(false), P(true)]`` per example.

        Args:
            X: Activations, shape ``(n, *trailing, d_model)``.

        Returns:
            Float64 numpy array ``(n, 2)``; column ``k`` is the probability of ``classes_[k]``.
        """
        p = self.predict_true(X)
        return np.column_stack([1.0 - p, p])

    def predict_log_proba(self, X: Float[Array, "n ... d_model"]) -> Float[np.ndarray, "n 2"]:
        """Log of :meth:`predict_proba`, computed stably from the logit: float64 ``(n, 2)``."""
        z = np.asarray(self.decision_function(X), dtype=np.float64)
        return np.column_stack([log_expit(-z), log_expit(z)])

    def predict(self, X: Float[Array, "n ... d_model"]) -> np.ndarray:
        """Predicted class per example: ``classes_[1]`` where P(true) > 0.5, else ``classes_[0]``."""
        true = self.predict_true(X) > 0.5  # checks fitting first
        return self.classes_[true.astype(np.int64)]

    def decision_function(  # pragma: no cover - abstract
        self, X: Float[Array, "n ... d_model"]
    ) -> Float[np.ndarray, " n"]:
        """Logit of P(true), shape ``(n,)``."""
        raise NotImplementedError

    def _check_X(
        self, X: Float[Array, "n ... d_model"], dtype: torch.dtype = torch.float64
    ) -> Float[Tensor, "n ... d_model"]:
        """Check a fitted probe's input layout and width; return a float tensor."""
        if not self._input_trailing:
            return self._check_predict_input(X).to(dtype)
        self._check_fitted()
        x = check_activations(X, self._input_trailing, dtype=dtype)
        check_width(x, self.d_model_)
        return x

    def _check_fit_input(self, X: Any, y: Any) -> tuple[Float[Tensor, "n d_model"], Float[Tensor, " n"]]:
        """Validate a supervised probe's training data the scikit-learn way; set ``classes_``.

        ``X`` may be a torch tensor (any device) or anything scikit-learn accepts as a dense 2-D
        array; ``y`` any two classes. Returns float64 CPU tensors, ``y`` as 0/1 for
        ``classes_[0]``/``classes_[1]``.
        """
        from sklearn.utils.multiclass import check_classification_targets, type_of_target

        x, y = _one_line(validate_data, self, _host(X), _host(y), dtype=[np.float64, np.float32],
                         ensure_all_finite=False, y_numeric=False)
        check_finite(x)
        check_classification_targets(y)
        classes = np.unique(y)
        if len(classes) > 2:
            raise ValueError(f"Only binary classification is supported. The type of the target is "
                             f"{type_of_target(y)} ({len(classes)} classes): a truth probe needs false/true labels")
        if len(classes) < 2:
            raise ValueError(f"{type(self).__name__} needs labels of both classes (false and true), y has only "
                             f"one class ({classes[0].item()!r}): pass examples of both")
        self.classes_ = classes
        return _tensor(x), torch.from_numpy((y == classes[1]).astype(np.float64))

    def _check_predict_input(self, X: Any) -> Float[Tensor, "n d_model"]:
        """Validate a fitted supervised probe's input (scikit-learn's checks, width included)."""
        self._check_fitted()
        x = _one_line(validate_data, self, _host(X), dtype=[np.float64, np.float32], ensure_all_finite=False,
                      reset=False)
        check_finite(x)
        return _tensor(x)

    def _finish_fit(self, direction: Tensor) -> None:
        """Store ``direction_`` (unit norm, float32), ``d_model_``, ``n_features_in_`` and ``classes_``."""
        direction = direction.detach().to("cpu", torch.float64).reshape(-1)
        norm = direction.norm()
        if not torch.isfinite(norm) or norm == 0:
            raise ValueError(f"{type(self).__name__} found no direction (zero or non-finite "
                             "norm): check that the classes differ")
        self.direction_ = (direction / norm).to(torch.float32)
        self.d_model_ = int(direction.numel())
        self.n_features_in_ = self.d_model_
        if not hasattr(self, "classes_"):
            self.classes_ = np.array([0, 1])

    def _check_restored(self) -> None:
        d = self.d_model_
        if isinstance(d, bool) or not isinstance(d, int) or d < 1:
            raise ValueError(f"d_model_ must be a positive integer, got {d!r}")
        if tuple(self.direction_.shape) != (d,):
            raise ValueError(f"direction_ has shape {tuple(self.direction_.shape)}, d_model_ says ({d},)")
        scores = self.decision_function(np.zeros((2, *self._input_trailing, d), dtype=np.float32))
        if np.shape(scores) != (2,) or not np.isfinite(scores).all():
            raise ValueError("its scores on a test input are not two finite numbers")

    def _restore_derived(self) -> None:
        if not hasattr(self, "classes_"):
            self.classes_ = np.array([0, 1])
        self.n_features_in_ = self.d_model_


def _one_line(check: Any, *args: Any, **kwargs: Any) -> Any:
    """Run a scikit-learn input check; its multi-line messages (which print the whole array) become one line.

    The first line (what is wrong) and the last (scikit-learn's advice) are kept; the array between goes.
    """
    try:
        return check(*args, **kwargs)
    except ValueError as err:
        lines = str(err).strip().splitlines()
        if len(lines) < 2:
            raise
        raise ValueError(f"{lines[0].rstrip(':. ')}; {lines[-1]}") from None


def _host(a: Any) -> Any:
    """A torch tensor as a CPU numpy array (bfloat16 via float32); anything else unchanged."""
    if isinstance(a, Tensor):
        a = a.detach().to("cpu")
        return (a.float() if a.dtype == torch.bfloat16 else a).numpy()
    return a


def _tensor(x: np.ndarray) -> Tensor:
    """A float64 CPU tensor that owns its memory (inputs may be read-only memory maps)."""
    return torch.from_numpy(np.array(x, dtype=np.float64, order="C", copy=True))


def check_finite(x: np.ndarray, name: str = "X") -> None:
    """One-line error for NaN or inf."""
    if not np.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or inf: clean or drop those rows first")
