"""Lie scores of what a model is generating, from the forward passes generation already makes.

Inside ``with monitor(model, lie_monitor) as live:``, every decoding step's residual stream at the
monitor's layer is scored as it passes (a hook, removed on exit): ``live.scores[row]`` holds one
score per generated token the model has read back. A token is read back on the step after it is
generated, so the last generated token of a row has no score (scoring it would take a second pass).
Only a monitor that reads activations (:class:`~veracity.monitors.AnswerProbeMonitor`) can listen. A
``contrast`` monitor takes each row's baseline from the prompt's pass, at its last position (the
prompt's last token when the batch is padded on the left, as :func:`veracity.hooks.generation.generate`
pads it).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import torch

from veracity.hooks.capture import hidden_of, resid_post_module, veracity_hook
from veracity.hooks.model import VeracityModel
from veracity.monitors.monitor import LieMonitor
from veracity.monitors.probe_monitor import AnswerProbeMonitor

__all__ = ["LiveScores", "monitor"]


@dataclass
class LiveScores:
    """Per-token lie scores of the rows being generated (one list per row of the batch)."""

    layer: int
    scores: list[list[float]] = field(default_factory=list)

    def answer_scores(self) -> np.ndarray:
        """The mean per-token score of each row so far (NaN for a row with no token read back yet)."""
        return np.array([np.mean(row) if row else np.nan for row in self.scores])


@contextmanager
def monitor(model: VeracityModel, lie_monitor: LieMonitor) -> Iterator[LiveScores]:
    """Score each generated token with ``lie_monitor`` while the model generates.

    Args:
        model: The model the monitor was fitted on.
        lie_monitor: A fitted :class:`~veracity.monitors.AnswerProbeMonitor` (``instructed_pairs`` or ``on_policy``).

    Yields:
        :class:`LiveScores`, filled as decoding steps run (the prompt's own pass is not scored).

    Example:
        >>> with vc.monitor(model, lie_monitor) as live:
        ...     answers = generate(model, prompts, max_new_tokens=12)
        >>> live.scores[0]  # one score per generated token read back
    """
    if not isinstance(lie_monitor, AnswerProbeMonitor) or getattr(lie_monitor, "probe_", None) is None:
        raise ValueError(f"a {type(lie_monitor).__name__} cannot listen to generation: pass a fitted monitor that "
                         "reads activations (instructed_pairs or on_policy)")
    if lie_monitor.context != "dialogue":
        raise ValueError(f"a monitor with context={lie_monitor.context!r} reads each answer after its question alone, "
                         "not where it is generated: score the answers afterwards with monitor.score(model, dialogues)")
    lie_monitor._check_model(model)
    live = LiveScores(layer=lie_monitor.layer_)
    probe, baseline = lie_monitor.probe_, 0.0

    @veracity_hook
    def hook(_module, _args, output):
        nonlocal baseline
        hidden = hidden_of(output).detach()
        if hidden.shape[1] != 1:  # the prompt's pass (or a new batch): start the rows afresh
            live.scores[:] = [[] for _ in range(hidden.shape[0])]
            baseline = hidden[:, -1].to("cpu", torch.float32) if lie_monitor.contrast else 0.0
            return
        logits = probe.decision_function(hidden[:, 0].to("cpu", torch.float32) - baseline)
        for row, value in zip(live.scores, np.asarray(logits, dtype=np.float64), strict=True):
            row.append(float(value))

    handle = resid_post_module(model, lie_monitor.layer_).register_forward_hook(hook)
    try:
        yield live
    finally:
        handle.remove()
