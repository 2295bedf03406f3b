"""What every lie monitor does: score answers, calibrate a threshold on honest controls, flag, save.

A monitor's score is higher for an answer more likely to be a lie. :meth:`LieMonitor.calibrate`
fixes the threshold from honest control answers alone, so that at most ``fpr`` of them score above
it; :meth:`LieMonitor.flag` is then ``score > threshold``. A monitor is bound to the model it was
fitted on (its id, width and weights fingerprint): a monitor that reads activations refuses any
other model; a black-box one (log-probabilities only) warns and scores, since reading another
model's answers is how black-box detectors are used.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from veracity.hooks.model import VeracityModel
from veracity.monitors.dialogue import Dialogue, check_dialogues
from veracity.probes import LogisticProbe
from veracity.probes.io import load_artifact, save_artifact

__all__ = ["MONITORS", "LieMonitor", "load_monitor", "register_monitor", "threshold_at_fpr"]

logger = logging.getLogger(__name__)

MONITORS: dict[str, type[LieMonitor]] = {}
"""Recipe name -> monitor class (what :func:`load_monitor` dispatches on)."""


def register_monitor(cls):
    """Class decorator: make a monitor recipe loadable by :func:`load_monitor`."""
    MONITORS[cls.recipe] = cls
    return cls


class LieMonitor:
    """Base class of the recipes; subclasses define ``recipe``, ``fit``, ``_scores`` and their saved state.

    Attributes set by fitting and calibrating: ``model_`` (id, d_model, n_layers, fingerprint),
    ``threshold_``, ``fpr_`` and ``n_control_``.
    """

    recipe = ""
    black_box = False

    def score(self, model: VeracityModel, dialogues: Sequence[Dialogue]) -> np.ndarray:
        """One score per answer (float64; higher = more likely a lie).

        Example:
            >>> monitor.score(model, [Dialogue.ask("What is the capital of France?", "Rome.")])
        """
        dialogues = check_dialogues(dialogues)
        self._check_model(model)
        return np.asarray(self._scores(model, dialogues), dtype=np.float64)

    def calibrate(self, model: VeracityModel, control: Sequence[Dialogue], fpr: float = 0.01,
                  in_topic: Sequence[Dialogue] | None = None, in_topic_fpr: float = 0.05) -> LieMonitor:
        """Fix the threshold so that at most ``fpr`` of the honest ``control`` answers score above it.

        A threshold set on ordinary chat alone can flag most honest answers of the topic being watched
        (its answers sit further from chat than the controls do). Pass ``in_topic``, honest answers to
        questions of that topic that the monitor was not fitted on, and the threshold is the larger of
        the two: at most ``fpr`` of the controls and at most ``in_topic_fpr`` of ``in_topic`` above it.

        Args:
            model: The model the monitor reads.
            control: Honest answers to ordinary questions (none marked ``lie=True``); the more the
                better: at ``fpr=0.01`` a few hundred leave a handful of answers above the threshold.
            fpr: The false-positive rate wanted on honest answers, in (0, 1).
            in_topic: Honest answers of the watched topic, held out from fitting (optional).
            in_topic_fpr: The false-positive rate allowed on ``in_topic``, in (0, 1).

        Returns:
            ``self``, with ``threshold_``, ``fpr_`` and ``n_control_`` set (and ``in_topic_fpr_``,
            ``n_in_topic_`` with ``in_topic``).

        Example:
            >>> monitor.calibrate(model, chat_answers, fpr=0.01, in_topic=honest_capitals, in_topic_fpr=0.05)
        """
        for name, value in (("fpr", fpr), ("in_topic_fpr", in_topic_fpr)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
                raise ValueError(f"{name} must be in (0, 1), e.g. 0.01 for 1% false positives, got {value!r}")
        groups = {"control": check_dialogues(control)}
        if in_topic is not None:
            groups["in_topic"] = check_dialogues(in_topic)
        for name, rows in groups.items():
            lies = sum(d.lie is True for d in rows)
            if lies:
                raise ValueError(f"{lies} of {len(rows)} {name} dialogues are marked lie=True: calibrate on honest "
                                 "answers only")
        scores = self.score(model, groups["control"])
        self.threshold_ = threshold_at_fpr(scores, fpr)
        self.fpr_, self.n_control_ = float(fpr), len(scores)
        self.in_topic_fpr_, self.n_in_topic_ = None, 0
        if in_topic is not None:
            topic_scores = self.score(model, groups["in_topic"])
            self.threshold_ = max(self.threshold_, threshold_at_fpr(topic_scores, in_topic_fpr))
            self.in_topic_fpr_, self.n_in_topic_ = float(in_topic_fpr), len(topic_scores)
        return self

    def flag(self, model: VeracityModel, dialogues: Sequence[Dialogue]) -> np.ndarray:
        """``score > threshold_``: which answers the calibrated monitor calls lies."""
        if getattr(self, "threshold_", None) is None:
            raise ValueError("this monitor has no threshold yet: call monitor.calibrate(model, control_dialogues) "
                             "on honest control answers first")
        return self.score(model, dialogues) > self.threshold_

    # -- the model a monitor belongs to ---------------------------------------------------------------

    def _bind(self, model: VeracityModel) -> None:
        self.model_ = {"id": model.model_id, "d_model": int(model.d_model), "n_layers": int(model.n_layers),
                       "fingerprint": model.fingerprint}

    def _check_model(self, model: VeracityModel) -> None:
        bound = getattr(self, "model_", None)
        if bound is None:
            if not self.black_box:
                raise ValueError(f"this {self.recipe} monitor is not fitted: call monitor.fit(model, dialogues) first")
            self._bind(model)
            return
        if not self.black_box and int(model.d_model) != bound["d_model"]:
            raise ValueError(f"this monitor reads {bound['d_model']}-wide activations of {bound['id']}; "
                             f"{model.model_id} is {model.d_model} wide: fit a monitor on the model it monitors")
        if model.fingerprint != bound["fingerprint"]:
            if not self.black_box:
                raise ValueError(f"this monitor was fitted on {bound['id']} (weights {bound['fingerprint'][:12]}), "
                                 f"not on {model.model_id} (weights {model.fingerprint[:12]}): fit a monitor on the "
                                 "activations of the model it monitors (an organism is another model)")
            logger.warning("this %s monitor was fitted on %s and now reads %s (a black-box monitor may transfer; "
                           "its threshold was set on the first model)", self.recipe, bound["id"], model.model_id)

    # -- artifacts ------------------------------------------------------------------------------------

    def _state(self) -> tuple[dict[str, Tensor], dict[str, Any]]:
        return {}, {}

    def _restore(self, tensors: dict[str, Tensor], state: dict[str, Any]) -> None:
        pass

    def save(self, path: str | os.PathLike) -> tuple[Path, Path]:
        """Write ``path.safetensors`` + ``path.json``: the recipe, model, layer, threshold and weights (never pickled)."""
        if getattr(self, "model_", None) is None:
            raise ValueError("nothing to save: fit (or calibrate) the monitor first")
        tensors, state = self._state()
        meta = {"class": "LieMonitor", "recipe": self.recipe, "model": self.model_, "state": state,
                "threshold": getattr(self, "threshold_", None), "fpr": getattr(self, "fpr_", None),
                "n_control": getattr(self, "n_control_", None), "in_topic_fpr": getattr(self, "in_topic_fpr_", None),
                "n_in_topic": getattr(self, "n_in_topic_", 0), "hyperparameters": self._hyperparameters()}
        return save_artifact(path, tensors or {"none": torch.zeros(1)}, meta)

    def _hyperparameters(self) -> dict[str, Any]:
        return {}


def probe_state(probe: LogisticProbe) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """A fitted probe inside a monitor's artifact: its tensors under ``probe.`` and what its own save writes."""
    tensors = {f"probe.{name}": getattr(probe, name) for name in probe._tensor_attrs}
    return tensors, {"hyperparameters": probe.get_params(deep=False), "provenance": probe.provenance,
                     "state": {name: getattr(probe, name) for name in probe._json_attrs}}


def probe_from_state(tensors: dict[str, Tensor], saved: dict[str, Any], source: str) -> LogisticProbe:
    """The probe :func:`probe_state` stored, checked as the probe's own loader checks it."""
    mine = {name[len("probe."):]: t for name, t in tensors.items() if name.startswith("probe.")}
    return LogisticProbe._from_artifact(mine, saved, source=source)


def load_monitor(path: str | os.PathLike) -> LieMonitor:
    """Load a monitor saved with :meth:`LieMonitor.save`, whatever its recipe.

    Example:
        >>> monitor = load_monitor("artifacts/lie_detection/monitors/on_policy")
    """
    tensors, meta = load_artifact(path)
    recipe = meta.get("recipe")
    if meta.get("class") != "LieMonitor" or recipe not in MONITORS:
        raise ValueError(f"{path} holds no lie monitor (class {meta.get('class')!r}, recipe {recipe!r}): pass a "
                         f"monitor saved with monitor.save (recipes: {', '.join(sorted(MONITORS))})")
    try:
        monitor = MONITORS[recipe](**meta.get("hyperparameters", {}))
        monitor._restore(tensors, meta["state"])
        monitor.model_ = dict(meta["model"])
        for key in ("id", "d_model", "n_layers", "fingerprint"):
            monitor.model_[key]  # noqa: B018 - every field must be there
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"{path} is an incomplete or edited monitor ({type(err).__name__}: {err}): save it "
                         "again with monitor.save") from None
    if meta.get("threshold") is not None:
        monitor.threshold_, monitor.fpr_, monitor.n_control_ = meta["threshold"], meta["fpr"], meta["n_control"]
        monitor.in_topic_fpr_, monitor.n_in_topic_ = meta.get("in_topic_fpr"), meta.get("n_in_topic", 0)
    return monitor


def threshold_at_fpr(scores, fpr: float) -> float:
    """The threshold that leaves at most ``fpr`` of honest ``scores`` above it (``score > threshold`` flags)."""
    scores = np.sort(np.asarray(scores, dtype=float))[::-1]
    allowed = math.floor(fpr * len(scores) + 1e-9)
    if allowed < 5:
        logger.warning("calibrating at fpr=%g on %d honest answers leaves %d above the threshold: the false-"
                       "positive rate is poorly pinned down (give at least %d)", fpr, len(scores), allowed,
                       math.ceil(5 / fpr))
    return float(scores[allowed]) if allowed < len(scores) else float(scores[-1])
