"""Fit truth directions and classifiers on activations; score and calibrate them.

``probes`` sees tensors only: it never loads a model and never imports ``hooks`` or
``experiments``. Every probe follows scikit-learn conventions (hyperparameters in ``__init__``,
``fit`` returns ``self``, learned state ends in ``_``) and exposes ``direction_``: a float32 unit
vector in raw activation space pointing toward "true" (label 1). As in scikit-learn,
``predict_proba`` returns ``(n, 2)`` with P(true) in column 1, ``predict_log_proba`` its log and
``decision_function`` the logit ``(n,)``; ``predict_true`` is column 1 alone. Supervised probes take
any two label classes (``classes_``); contrast-pair probes use ``classes_ = [0, 1]`` and report
``n_features_in_ = d_model`` although their input is ``(n, 2, d_model)``. The logit calibrators
(:class:`TemperatureScaling`, :class:`PlattScaling`) map a score vector to P(true) ``(n,)``.

Input layouts:

- supervised probes (:class:`LogisticProbe`, :class:`MassMeanProbe`, :class:`PIKHead`):
  ``(n, d_model)``;
- contrast-pair probes (:class:`CCS`, :class:`CRCProbe`, :class:`RandomDirectionProbe`):
  ``(n, 2, d_model)`` with index 0 = "false/no" completion, 1 = "true/yes" completion;
- :class:`PolarityAwareCCS`: ``(n, 2, 2, d_model)`` = ``[A / not-A][no / yes]``.

Artifacts are ``NAME.safetensors`` + ``NAME.json``; :func:`load_probe` restores any of them.
"""

from veracity.probes.calibration import PlattScaling, TemperatureScaling
from veracity.probes.ccs import CCS, ccs_loss
from veracity.probes.checkpoints import ProbeTransferWarning, read_across
from veracity.probes.contrast import CRCProbe, RandomDirectionProbe
from veracity.probes.io import load_artifact, save_artifact
from veracity.probes.logistic import LogisticProbe
from veracity.probes.mass_mean import MassMeanProbe
from veracity.probes.metrics import (
    ConfidenceInterval,
    ReliabilityDiagram,
    accuracy,
    auroc,
    bootstrap_accuracy_auroc,
    bootstrap_ci,
    brier,
    ece,
    mce,
    reliability_diagram,
)
from veracity.probes.pik import PIKHead
from veracity.probes.polarity import PolarityAwareCCS, contradiction_index, polar_consistency
from veracity.probes.registry import REGISTRY, load_probe, register
from veracity.probes.validation import NotFittedError

EXPECTED_FAILED_CHECKS: dict[str, dict[str, str]] = {"LogisticProbe": {}, "MassMeanProbe": {}}
"""scikit-learn ``check_estimator`` checks that cannot apply, with the reason (none today)."""

__all__ = [
    "EXPECTED_FAILED_CHECKS",
    "CCS",
    "CRCProbe",
    "ConfidenceInterval",
    "LogisticProbe",
    "MassMeanProbe",
    "NotFittedError",
    "PIKHead",
    "PlattScaling",
    "PolarityAwareCCS",
    "ProbeTransferWarning",
    "REGISTRY",
    "RandomDirectionProbe",
    "ReliabilityDiagram",
    "TemperatureScaling",
    "accuracy",
    "auroc",
    "bootstrap_accuracy_auroc",
    "bootstrap_ci",
    "brier",
    "ccs_loss",
    "contradiction_index",
    "ece",
    "load_artifact",
    "load_probe",
    "mce",
    "polar_consistency",
    "read_across",
    "register",
    "reliability_diagram",
    "save_artifact",
]
