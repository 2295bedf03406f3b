"""Baselines that read the fact, not the intent: a truth probe at the answer's last token.

``statement`` fits a logistic truth probe on plain true and false statements; ``answer_format`` on
questions followed by their true answer or by another answer of their topic (the format of the
answers it will judge). Either scores an answer by minus the probe's logit of "true" at the answer's
last token (higher = more likely a lie). They are what ``honesty_pressure`` used before
:mod:`veracity.monitors`; kept as baselines, since a truth probe also flags honest mistakes and its
reading moves with the prompt (issue 23's Simpson's paradox).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from veracity.hooks import extract
from veracity.hooks.convention import resolve_layers
from veracity.hooks.model import VeracityModel
from veracity.monitors.dialogue import Dialogue
from veracity.monitors.monitor import LieMonitor, probe_from_state, probe_state, register_monitor
from veracity.monitors.reading import answer_activations
from veracity.probes import LogisticProbe

__all__ = ["AnswerFormatMonitor", "StatementMonitor", "TruthProbeMonitor"]


class TruthProbeMonitor(LieMonitor):
    """A logistic truth probe fitted on labelled texts at one layer, read at each answer's last token.

    Args:
        layer: The layer read (negative counts from the end).
        C: Inverse regularisation strength of the probe.
        batch_size: Texts per forward pass.
    """

    recipe = "truth_probe"

    def __init__(self, layer: int = -1, C: float = 1.0, batch_size: int = 16):
        self.layer, self.C, self.batch_size = int(layer), float(C), batch_size
        if self.C <= 0:
            raise ValueError(f"C must be > 0, got {C!r}")

    def fit(self, model: VeracityModel, texts: Sequence[str], true: Sequence[int]) -> TruthProbeMonitor:
        """Fit the truth probe on ``texts`` read at their last token (``true``: 1 true, 0 false).

        Returns:
            ``self``, with ``layer_`` and ``probe_``.
        """
        labels = np.asarray(true, dtype=np.int64)
        if len(texts) != len(labels) or set(labels.tolist()) != {0, 1}:
            raise ValueError(f"a truth probe needs as many labels as texts ({len(texts)} texts, {len(labels)} labels) "
                             "and both true (1) and false (0) ones")
        self.layer_ = resolve_layers([self.layer], model.n_layers, model.model_id)[0]
        acts = extract(model, list(texts), layers=[self.layer_], batch_size=self.batch_size, progress=False)[:, 0]
        self.probe_ = LogisticProbe(C=self.C).fit(acts, labels)
        self._bind(model)
        return self

    def _scores(self, model: VeracityModel, dialogues: list[Dialogue]) -> np.ndarray:
        last = [a[-1:, 0] for a in answer_activations(model, dialogues, [self.layer_], self.batch_size)]
        return -np.asarray(self.probe_.decision_function(torch.cat(last)), dtype=np.float64)

    def _hyperparameters(self) -> dict[str, Any]:
        return {"layer": self.layer, "C": self.C, "batch_size": self.batch_size}

    def _state(self):
        tensors, saved = probe_state(self.probe_)
        return tensors, {"layer": self.layer_, "probe": saved}

    def _restore(self, tensors, state):
        self.layer_ = int(state["layer"])
        self.probe_ = probe_from_state(tensors, state["probe"], "the monitor's truth probe")


@register_monitor
class StatementMonitor(TruthProbeMonitor):
    """:class:`TruthProbeMonitor` fitted on plain true and false statements."""

    recipe = "statement"


@register_monitor
class AnswerFormatMonitor(TruthProbeMonitor):
    """:class:`TruthProbeMonitor` fitted on questions with their true answer or another answer (the answers' format)."""

    recipe = "answer_format"
