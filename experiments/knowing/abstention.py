"""Abstention under confidence targets: when should the model answer, and when say "I don't know"?

    veracity run abstention --out artifacts/abstention

"Why Language Models Hallucinate" (2025) argues that binary grading rewards guessing and proposes
explicit confidence targets: at target ``t`` a right answer scores +1, a wrong one ``-t/(1-t)`` and
"I don't know" 0, so answering pays exactly when the chance of being right exceeds ``t``. Here the
model answers checkable questions (capitals and graded arithmetic, or ``--questions FILE.csv``)
greedily, and on the held-out questions each confidence decides answer or abstain at the target
itself (answer when confidence > t; no threshold is tuned):

- ``never``: always answer (what binary grading rewards);
- ``p_ik``: a P(IK) head on the question prompt, fitted on the training questions;
- ``p_true``: the model's own P(True) for its answer, asked in the same chat after the answer (the
  prompt under which P(True) is not inverted; see ``veracity run pik``);
- ``verbal``: its stated 0-100 confidence (an unparseable reply cannot gate, so the answer stands);
- ``oracle``: answer exactly when right (the upper bound).

Beside them (``--prompted``) the target is stated in the prompt, as the paper proposes, and the
model's own abstentions ("I don't know") and score are counted. Writes ``results.json`` (``study``,
``model``, ``config``, ``headline``: expected score per gate and target with bootstrap 95%
intervals over held-out questions), ``answers.jsonl`` and ``report.html``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import plotly.graph_objects as go

from veracity.atomic import atomic_write_text
from veracity.experiments.cli import study_main
from veracity.experiments.knowing.pik_parts import (
    PIKConfig,
    answer_split_and_fit,
)
from veracity.experiments.knowing.targets import gate, penalty, prompted_run, scores
from veracity.experiments.knowing.verbal_confidence import verbal_confidence
from veracity.experiments.report import table_html, write_report
from veracity.experiments.results import Results, study_results
from veracity.hooks.generation import p_true
from veracity.probes.evaluation import ci_text, mean_estimate

logger = logging.getLogger(__name__)

GATES = ("never", "p_ik", "p_true", "verbal", "oracle")


@dataclass(kw_only=True)
class Config(PIKConfig):
    """Settings of the abstention study. Every option of ``veracity run pik``, plus:

    Attributes:
        targets: Confidence targets t in [0, 1): a wrong answer costs t/(1-t), "I don't know" 0, a right one 1.
        prompted: Also state each target in the prompt and score the model's own abstentions.
        confidence_tokens: Tokens generated at most for the verbal-confidence reply.
    """

    study = "abstention"

    targets: list[float] = field(default_factory=lambda: [0.0, 0.5, 0.75, 0.9])
    prompted: bool = True
    confidence_tokens: int = 32

    def __post_init__(self):
        super().__post_init__()
        if not self.targets or any(not 0 <= t < 1 for t in self.targets):
            raise ValueError(f"--targets must be numbers in [0, 1), got {self.targets}")


def run(config: Config, model=None) -> Results:
    """Answer, read the confidences, score every gate at every target on held-out questions; write outputs."""
    model = model or config.load_model()
    data, graded, train, test, layer, acts, head = answer_split_and_fit(model, config)
    correct = graded.correct
    replies, verbal = verbal_confidence(model, data, graded.greedy, config.confidence_tokens, config.batch_size)
    confidence = {"never": np.ones(len(data)), "p_ik": head.predict_true(acts),
                  "p_true": p_true(model, data, graded.greedy, config.batch_size, own_turn=True), "verbal": verbal,
                  "oracle": correct.astype(np.float64)}
    seed, headline, table = config.seed, {}, []
    for t in config.targets:
        for name in GATES:
            answered = gate(confidence[name][test], correct[test], name, t)
            per_question = scores(correct[test], answered, t)
            headline[f"score_{name}_t{t:g}"] = mean_estimate(per_question, seed)
            table.append({"gate": name, "target": t, "penalty": penalty(t), "answered": float(answered.mean()),
                          "accuracy_when_answered": float(correct[test][answered].mean()) if answered.any() else None,
                          "score": headline[f"score_{name}_t{t:g}"]})
    prompted = prompted_run(model, data, test, config) if config.prompted else []
    for row in prompted:
        t = row["target"]
        headline[f"score_prompted_t{t:g}"] = mean_estimate(row["score"], seed)
        headline[f"abstain_prompted_t{t:g}"] = mean_estimate(row["abstained"].astype(float), seed)
        answered = ~row["abstained"]
        table.append({"gate": "prompted", "target": t, "penalty": penalty(t), "answered": float(answered.mean()),
                      "accuracy_when_answered": float(row["correct"][answered].mean()) if answered.any() else None,
                      "score": headline[f"score_prompted_t{t:g}"]})
    results = study_results(
        "abstention", model, config, headline, layer=layer, n_questions=len(data), n_train=len(train),
        n_test=len(test), accuracy_greedy=float(correct.mean()), accuracy_test=float(correct[test].mean()),
        verbal_parse_rate_test=float(np.isfinite(verbal[test]).mean()), tables={"gates": table},
        rule="answer when confidence > t (no tuning); score +1 right, -t/(1-t) wrong, 0 abstained; held-out "
             "questions; 1000-sample percentile bootstrap over questions")
    out = Path(config.out)
    results.write(out)
    _write_answers(out / "answers.jsonl", data, graded, test, confidence, replies, prompted)
    head.save(out / "pik_head")
    write_abstention_report(out / "report.html", results)
    return results


def _write_answers(path: Path, data, graded, test, confidence, replies, prompted) -> None:
    lines = []
    for j, i in enumerate(test.tolist()):
        row = {"question": data.items[i].question, "references": list(data.items[i].answers),
               "greedy": graded.greedy[i], "correct": int(graded.correct[i]), "verbal_reply": replies[i],
               **{name: None if np.isnan(c[i]) else float(c[i]) for name, c in confidence.items()},
               **{f"prompted_t{p['target']:g}": p["replies"][j] for p in prompted}}
        lines.append(json.dumps(row, ensure_ascii=False) + "\n")
    atomic_write_text(path, "".join(lines))


def write_abstention_report(path: Path, results: dict) -> None:
    """Expected score against the target for each gate (95% intervals), and the table behind it."""
    fig = go.Figure()
    rows = results.tables["gates"]
    for name in dict.fromkeys(r["gate"] for r in rows):
        mine = [r for r in rows if r["gate"] == name]
        fig.add_scatter(x=[r["target"] for r in mine], y=[r["score"]["value"] for r in mine], mode="lines+markers",
                        name=name, error_y={"type": "data", "symmetric": False,
                                            "array": [r["score"]["ci"][1] - r["score"]["value"] for r in mine],
                                            "arrayminus": [r["score"]["value"] - r["score"]["ci"][0] for r in mine]})
    fig.add_hline(y=0, line_dash="dash", line_color="grey", annotation_text="always abstain")
    fig.update_layout(title="Expected score per held-out question against the confidence target", height=480,
                      xaxis_title="confidence target t (a wrong answer costs t/(1-t))", yaxis_title="expected score")
    shown = [{**r, "score": ci_text(r["score"])} for r in rows]
    write_report(path, f"Abstention under confidence targets on {results['model']['id']}", [
        f"<p>{results['n_test']} held-out questions of {results['n_questions']}; greedy accuracy "
        f"{results['accuracy_test']:.3f}. Rule: {results['rule']}.</p>", fig,
        table_html(shown, ["gate", "target", "penalty", "answered", "accuracy_when_answered", "score"]),
    ])


def main(argv=None, model=None) -> Results:
    """Command-line entry point; returns the :class:`Results`."""
    return study_main(Config, run, argv, model=model)


if __name__ == "__main__":
    main()
