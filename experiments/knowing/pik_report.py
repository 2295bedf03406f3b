"""The HTML report of the P(IK) experiment: metrics, reliability diagrams, score histograms."""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np

from veracity.experiments.report import (
    histogram_figure,
    metric_by_layer_figure,
    reliability_figure,
    table_html,
    write_report,
)
from veracity.probes import reliability_diagram
from veracity.probes.evaluation import ci_text

NAMES = {"p_ik": "P(IK) head", "p_true": "P(True), model's own (0-shot)", "p_true_few_shot": "P(True), few-shot",
         "p_true_samples": "P(True), own k samples shown", "p_true_own_turn": "P(True), asked after its own answer", "category_prior": "category prior (baseline)"}


def _intro(results: dict) -> str:
    cfg = results["config"]
    return (f"<p>model <code>{html.escape(results['model_id'])}</code>; {results['n_questions']} questions "
            f"({html.escape(cfg['qa_sets'])}), {results['n_train']} train / {results['n_test']} held out. "
            f"Greedy accuracy {results['accuracy_greedy']:.3f}; sampled accuracy (k={cfg['k']}, T={cfg['temperature']}) "
            f"{results['accuracy_sampled']:.3f}. P(IK) head: layer {results['layer']} ({html.escape(results['site'])}, "
            f"{html.escape(results['position'])}), target {cfg['target']}. "
            f"{html.escape(results['metric_note'])}.</p>")


def write_pik_report(path: str | Path, results: dict, probs: dict[str, np.ndarray], correct: np.ndarray,
                     test: np.ndarray) -> Path:
    """Write ``report.html`` for :func:`veracity.experiments.knowing.pik.run`.

    Args:
        path: Output file.
        results: The ``results.json`` contents.
        probs: Score name to probability for every question.
        correct: 0/1 greedy correctness for every question.
        test: Held-out indices (all figures use them).

    Returns:
        The path written.
    """
    rows = [{"score": NAMES.get(name, name), **m, "auroc_ci95": "[{:.3f}, {:.3f}]".format(*m["auroc_ci95"])}
            for name, m in results["metrics"].items()]
    categories = [{"category": c, **v} for c, v in results["accuracy_by_category"].items()]
    curves, hists = {}, {}
    for name, p in probs.items():
        d = reliability_diagram(p[test], correct[test], n_bins=10)
        curves[f"{NAMES.get(name, name)} (ECE {d.ece:.3f})"] = (d.confidence, d.frequency, d.count)
    for name in ("p_ik", "p_true"):
        hists[f"{NAMES[name]}: correct"] = probs[name][test][correct[test] == 1]
        hists[f"{NAMES[name]}: wrong"] = probs[name][test][correct[test] == 0]
    layer_rows = [{"layer": r["layer"], "probe": "P(IK) head", "auroc": r["auroc"]} for r in results.tables["per_layer_auroc"]]
    parts = [
        _intro(results),
        reliability_figure(curves, "Reliability on the held-out split (label: greedy answer correct)"),
        table_html(rows, ("score", "auroc", "auroc_ci95", "ece", "mce", "brier", "mean_prob", "accuracy"),
                   caption="Held-out: does the score predict that the greedy answer is correct?"),
        table_html(categories, ("category", "n", "greedy", "sampled"), caption="Accuracy by category (all questions)"),
        table_html([{"category": c, **v} for c, v in results["auroc_within_category"].items()],
                   ("category", "n", "p_ik", "p_true"),
                   caption="Held-out AUROC within a category (difficulty held fixed; small n)"),
        _confound_table(results.get("p_true_confounds")),
        _passage_table(results.get("source_passages"), results.get("mixed_head_weight_decay")),
        histogram_figure(hists, "Scores of correct and wrong answers (held-out)", "probability"),
        metric_by_layer_figure(layer_rows, "auroc", "P(IK) AUROC by layer (exploratory; the layer above was fixed "
                               "in advance)"),
    ]
    return write_report(path, "P(IK) and P(True)", parts)


def _confound_table(confounds: dict | None) -> str:
    """Mean P(True) of right and wrong answers and AUROC inside each answer format and length third."""
    if not confounds:
        return ""
    rows = [{"score": NAMES.get(name, name), "stratum": stratum, **values}
            for name, entry in confounds.items() if name.startswith("p_true")
            for stratum, values in entry["strata"].items()]
    return table_html(rows, ("score", "stratum", "n", "mean_right", "mean_wrong", "auroc"),
                      caption="P(True) with the answer's format or length held fixed (held-out; "
                              f"Spearman of length in words vs correct: {confounds['words_vs_correct_spearman']})")


def _passage_table(passages: dict | None, selection: dict | None = None) -> str:
    """Accuracy, mean P(IK) and its AUROC with a relevant passage, an irrelevant one and none (and the mixed head's
    weight decay, chosen by cross-validation on training questions)."""
    if not passages:
        return ""
    rows = [{"passage": name, "n": v["n"], "accuracy": ci_text(v["accuracy"]),
             "mean P(IK) target (what a calibrated head averages)": ci_text(v["mean_target"]) if "mean_target" in v else "",
             "mean P(IK), head trained bare": ci_text(v["mean_p_ik"]), "AUROC, bare": ci_text(v["auroc"]),
             **({"mean P(IK), head trained on a mix": ci_text(v["mean_p_ik_mixed"]),
                 "AUROC, mix": ci_text(v["auroc_mixed"])} if "mean_p_ik_mixed" in v else {}),
             **({"mean P(IK), paired head (the question in its condition beside it bare)": ci_text(v["mean_p_ik_paired"]),
                 "AUROC, paired": ci_text(v["auroc_paired"])} if "mean_p_ik_paired" in v else {})}
            for name, v in passages.items()]
    chosen = (f"; the mix's weight decay {selection['chosen']:g}"
              + (f", the paired head's {selection['paired']['chosen']:g}" if "paired" in selection else "")
              + ", chosen by cross-validation on the training capitals" if selection else "")
    return table_html(rows, caption="P(IK) with source material (held-out capital questions; one head trained on bare "
                                    f"questions, one on training questions bare and with passages{chosen})")
