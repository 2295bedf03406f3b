"""The "lie-detector view": a fitted probe's P(true) at every token of a text or a generated answer.

One forward pass records the residual stream at the probe's layer for every position; the
probe's ``predict_true`` (P(true)) turns each position into a score. Tokens are tokenised exactly as
:func:`veracity.hooks.extract` does, so the score of the last token equals the probe applied to
``extract(model, [text], layers=[layer])`` (tested).

The scoring lives in :mod:`veracity.experiments.truth.token_scores`.

Example:
    >>> probe = load_probe("artifacts/transfer/probes/cities__logistic")
    >>> view = score_tokens(model, probe, "The city of Paris is in Japan.")
    >>> token_figure([view]).show()

Command line (writes ``OUT/token_view.html``)::

    python -m veracity.experiments.truth.token_view --probe artifacts/transfer/probes/cities__logistic \\
        --text "The city of Paris is in Japan." --answer "Where is the city of Lyon?"
"""

from __future__ import annotations

import html
import logging
from dataclasses import dataclass
from pathlib import Path

from veracity.experiments.cli import study_main
from veracity.experiments.config import StudyConfig
from veracity.experiments.report import write_report
from veracity.experiments.results import Results, study_results
from veracity.experiments.truth.token_scores import score_answer, score_tokens, shown, token_figure
from veracity.probes import load_probe

__all__ = ["TokenViewConfig", "main", "run"]

logger = logging.getLogger(__name__)


@dataclass(kw_only=True)
class TokenViewConfig(StudyConfig):
    """Per-token probe scores over a text and/or a generated answer, as an HTML heatmap.

    Attributes:
        probe: Path of a saved probe (NAME, NAME.json or NAME.safetensors), e.g. from veracity.experiments.truth.transfer.
        text: A text to read token by token (several: separate with ' || ').
        answer: A question to answer greedily; the answer is read token by token too.
        layer: Layer to read (default: the layer recorded with the probe).
        max_new_tokens: Length limit of the generated answer.
    """

    study = "token_view"

    probe: str
    text: str | None = None
    answer: str | None = None
    layer: int | None = None
    max_new_tokens: int = 32

    def __post_init__(self):
        super().__post_init__()
        if not self.text and not self.answer:
            raise ValueError("nothing to read: pass --text \"...\" and/or --answer \"a question\"")
        if self.max_new_tokens < 1:
            raise ValueError(f"--max-new-tokens must be at least 1, got {self.max_new_tokens}")


def run(config: TokenViewConfig, model=None) -> Results:
    """Score every token of ``config.text`` (and of the answer to ``config.answer``); write ``token_view.html``
    and ``results.json`` (per text, P(true) at its last token in the headline; every token in the ``tokens`` table).
    """
    probe = load_probe(config.probe)
    model = model or config.load_model()
    texts = [t.strip() for t in (config.text or "").split("||") if t.strip()]
    views = [score_tokens(model, probe, text, config.layer) for text in texts]
    if config.answer:
        views.append(score_answer(model, probe, config.answer, config.max_new_tokens, config.layer))
    for view in views:
        logger.info("%s\n%s", view.label, "  ".join(f"{shown(t)}:{s:.2f}" for t, s in zip(view.tokens, view.scores)))
    rows = [{"text": i, "label": view.label, "position": j, "token": token, "p_true": float(score),
             "generated": view.answer_start is not None and j >= view.answer_start}
            for i, view in enumerate(views) for j, (token, score) in enumerate(zip(view.tokens, view.scores))]
    results = study_results("token_view", model, config,
                            {f"p_true_last_token_text{i}": {"value": float(view.scores[-1]), "ci": None}
                             for i, view in enumerate(views)},
                            tables={"tokens": rows}, report="token_view.html", layer=views[0].layer,
                            texts=[view.label for view in views])
    results.write(config.out)
    write_report(Path(config.out) / "token_view.html", f"Token view: {Path(config.probe).name}, {model.model_id}", [
        f"<p>P(true) of probe <code>{html.escape(config.probe)}</code> at every token "
        f"(layer {views[0].layer}); generated tokens in bold.</p>", token_figure(views)])
    return results


def main(argv=None, model=None) -> Results:
    """Command-line entry: ``veracity run token_view --help``."""
    return study_main(TokenViewConfig, run, argv, model=model)


if __name__ == "__main__":
    main()
