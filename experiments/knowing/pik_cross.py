"""Cross-model P(IK): does a model's P(IK) head know *its own* knowledge, or only how hard a question is?

    veracity run pik_cross --out artifacts/pik_cross

Kadavath et al. (2022) trained P(IK) on one model's activations against another model's answers
to tell "this model knows" from "this question is easy". Here two models (``--model``, A, and
``--other``, B; by default the two embedded models) answer the same questions (one greedy answer
and ``k`` samples each). On a training split, each model's question activations train two P(IK)
heads: one on its own correctness, one on the other model's. On the held-out questions every head
is scored against each model's greedy correctness:

- on all held-out questions (where difficulty helps every head), and
- on the held-out questions exactly one model gets right, where A's correctness is the opposite of
  B's: a head that learnt its own model's knowledge has AUROC above 0.5 against its own model's
  correctness there, and one that learnt the other model's knowledge, below.

The split is stratified by the pair of outcomes, so those disagreement questions appear on both
sides. Writes ``results.json`` (``study``, ``model``, ``config``, ``headline``: AUROC with bootstrap
95% intervals per head and evaluation), ``answers.jsonl`` and ``report.html``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.model_selection import train_test_split

from veracity.atomic import atomic_write_text
from veracity.experiments.cli import study_main
from veracity.experiments.knowing.pik_parts import (
    NotEnoughOutcomes,
    PIKConfig,
    build_questions,
    question_activations,
    training_target,
)
from veracity.experiments.report import table_html, write_report
from veracity.experiments.results import Results, study_results
from veracity.hooks.generation import answer_and_grade
from veracity.probes import PIKHead
from veracity.probes.evaluation import auroc_estimate, ci_text, mean_estimate

logger = logging.getLogger(__name__)

ROLES = ("A", "B")


@dataclass(kw_only=True)
class Config(PIKConfig):
    """Settings of the cross-model P(IK) study. Every option of ``veracity run pik`` (``--model`` is model A),
    plus:

    Attributes:
        other: Model B: an embedded name, a folder or a Hugging Face name.
    """

    study = "pik_cross"

    other: str = "gemma3-270m"

    def load_other(self):
        """Load model B on ``device`` in ``dtype``."""
        from veracity.hooks import load_model

        return load_model(self.other, device=self.device or None, dtype=self.dtype or None)


def answer_and_read(model, data, config: Config) -> dict:
    """One model's graded answers and its question activations at its P(IK) layer."""
    graded = answer_and_grade(model, data, config.k, config.max_new_tokens, config.temperature, config.batch_size,
                              config.seed)
    layer = config.layer_index(model.n_layers)
    return {"id": model.model_id, "layer": layer, "graded": graded,
            "target": training_target(graded, config.target),
            "acts": question_activations(model, data, config)[:, layer].clone()}


def joint_split(a: np.ndarray, b: np.ndarray, test_fraction: float, seed: int, questions=None
                ) -> tuple[np.ndarray, np.ndarray]:
    """Question indices, stratified by the pair of outcomes; a question text asked twice stays on one side."""
    for name, y in (("model A", a), ("model B", b)):
        if np.bincount(y, minlength=2).min() < 2:
            raise NotEnoughOutcomes(f"{name} got {y.sum()} of {len(y)} questions right: cross-model P(IK) needs at "
                                    "least 2 right and 2 wrong per model; use more or other questions")
    joint = 2 * a + b
    stratify = joint if np.bincount(joint, minlength=4)[np.unique(joint)].min() >= 2 else a
    groups = np.arange(len(a)) if questions is None else np.asarray(questions)
    _, first, inverse = np.unique(groups, return_index=True, return_inverse=True)
    train, test = train_test_split(np.arange(len(first)), test_size=test_fraction, stratify=stratify[first],
                                   random_state=seed)
    in_test = np.isin(inverse, test)
    return np.flatnonzero(~in_test), np.flatnonzero(in_test)


def cross_heads(runs: dict, train: np.ndarray, config: Config) -> dict[tuple[str, str], np.ndarray]:
    """``(activations of X, labels of L)`` -> the head's P(IK) on every question."""
    out = {}
    for x in ROLES:
        for labels in ROLES:
            target = runs[labels]["target"]
            if np.ptp(target[train]) == 0:
                raise NotEnoughOutcomes(f"model {labels}'s {config.target} target is constant on the training split: "
                                        "use --target greedy or more questions")
            head = PIKHead(hidden=config.hidden or None, weight_decay=config.weight_decay, seed=config.seed)
            out[x, labels] = head.fit(runs[x]["acts"][train], target[train]).predict_true(runs[x]["acts"])
    return out


def run(config: Config, model=None, other=None) -> Results:
    """Both models answer; four heads; every head scored against both models' correctness. Writes outputs.

    ``model`` and ``other`` are models already loaded for ``--model`` and ``--other`` (loaded when ``None``).
    """
    data = build_questions(config)
    runs, models = {}, {}
    for role, given, loader in (("A", model, config.load_model), ("B", other, config.load_other)):
        models[role] = given or loader()
        runs[role] = answer_and_read(models[role], data, config)
        logger.info("model %s (%s): greedy accuracy %.3f", role, runs[role]["id"], runs[role]["graded"].correct.mean())
    correct = {role: runs[role]["graded"].correct for role in ROLES}
    train, test = joint_split(correct["A"], correct["B"], config.test_fraction, config.seed, data.questions)
    probs = cross_heads(runs, train, config)
    disagree = test[correct["A"][test] != correct["B"][test]]
    headline, table = {}, []
    for (x, labels), p in probs.items():
        for judged in ROLES:
            row = {"activations": x, "trained_on": labels, "judged_against": judged}
            for name, rows in (("held_out", test), ("disagree", disagree)):
                key = f"auroc_{x}acts_{labels}labels_vs_{judged}_{name}"
                if np.unique(correct[judged][rows]).size == 2:
                    headline[key] = auroc_estimate(p[rows], correct[judged][rows], config.seed)
                    row[name] = headline[key]
            table.append(row)
    results = study_results(
        "pik_cross", models["A"], config, headline,
        models={role: {"id": runs[role]["id"], "layer": runs[role]["layer"], "n_layers": models[role].n_layers,
                       "accuracy_greedy": float(correct[role].mean())} for role in ROLES},
        n_questions=len(data), n_train=len(train), n_test=len(test), n_disagree_test=len(disagree),
        agreement={"both_right": int(((correct["A"] == 1) & (correct["B"] == 1)).sum()),
                   "only_A": int(((correct["A"] == 1) & (correct["B"] == 0)).sum()),
                   "only_B": int(((correct["A"] == 0) & (correct["B"] == 1)).sum()),
                   "both_wrong": int(((correct["A"] == 0) & (correct["B"] == 0)).sum())},
        accuracy={role: mean_estimate(correct[role], config.seed) for role in ROLES},
        heads=table, note="AUROC of each head's P(IK) against a model's greedy correctness on held-out questions; "
                          "1000-sample percentile bootstrap; 'disagree' = held-out questions exactly one model gets right")
    out = Path(config.out)
    results.write(out)
    _write_answers(out / "answers.jsonl", data, runs, probs, test)
    write_cross_report(out / "report.html", results)
    return results


def _write_answers(path: Path, data, runs: dict, probs: dict, test: np.ndarray) -> None:
    held_out, lines = set(test.tolist()), []
    for i, item in enumerate(data.items):
        row = {"question": item.question, "references": list(item.answers), "split": "test" if i in held_out else "train"}
        for role in ROLES:
            row[f"{role}_greedy"] = runs[role]["graded"].greedy[i]
            row[f"{role}_correct"] = int(runs[role]["graded"].correct[i])
        row.update({f"p_ik_{x}acts_{labels}labels": float(p[i]) for (x, labels), p in probs.items()})
        lines.append(json.dumps(row, ensure_ascii=False) + "\n")
    atomic_write_text(path, "".join(lines))


def write_cross_report(path: Path, results: dict) -> None:
    """The 2x2 tables (heads x judged model), all held-out questions and the disagreement questions."""
    import plotly.graph_objects as go

    models = results["models"]
    fig = go.Figure()
    for name in ("held_out", "disagree"):
        rows = [r for r in results["heads"] if name in r]
        labels = [f"{r['activations']} acts, {r['trained_on']} labels → {r['judged_against']}" for r in rows]
        fig.add_bar(x=labels, y=[r[name]["value"] for r in rows], name=name.replace("_", " "),
                    error_y={"type": "data", "symmetric": False,
                             "array": [r[name]["ci"][1] - r[name]["value"] for r in rows],
                             "arrayminus": [r[name]["value"] - r[name]["ci"][0] for r in rows]})
    fig.add_hline(y=0.5, line_dash="dash", line_color="grey")
    fig.update_layout(title="P(IK) AUROC by head (activations, training labels) and the model judged", height=480,
                      barmode="group", yaxis_title="AUROC")
    table = [{"head": f"{r['activations']} activations, trained on {r['trained_on']}'s answers",
              "judged against": r["judged_against"], "all held-out": ci_text(r.get("held_out")),
              "exactly one right": ci_text(r.get("disagree"))} for r in results["heads"]]
    write_report(path, "Cross-model P(IK)", [
        f"<p>A = {models['A']['id']} (layer {models['A']['layer']}, accuracy {models['A']['accuracy_greedy']:.3f}); "
        f"B = {models['B']['id']} (layer {models['B']['layer']}, accuracy {models['B']['accuracy_greedy']:.3f}). "
        f"{results['n_test']} held-out questions, {results['n_disagree_test']} of them answered right by exactly one "
        f"model. Agreement over all questions: {results['agreement']}.</p>",
        fig, table_html(table, caption=results["note"]),
    ])


def main(argv=None, model=None, other=None) -> Results:
    """Command-line entry point; returns the :class:`Results`."""
    return study_main(Config, run, argv, model=model, other=other)


if __name__ == "__main__":
    main()
