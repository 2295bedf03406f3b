"""P(IK) versus P(True): does the model know which questions it can answer?

    python -m veracity.experiments.knowing.pik --out artifacts/pik

The model answers graded QA sets (arithmetic of graded difficulty, country capitals): one greedy
answer and ``k`` samples at temperature 1 per question, chat-formatted. A P(IK) head
(:class:`veracity.probes.PIKHead`) is fitted on the question prompt's last-token activations at one layer
against the fraction of samples that were correct, on a training split. On the held-out split,
P(IK) and the model's own P(True) for its greedy answer are scored against whether that greedy
answer was correct (AUROC with a bootstrap 95% interval, ECE, Brier), beside a baseline that only
knows each question's category. Writes ``results.json``, ``answers.jsonl`` and ``report.html``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from veracity.data import QADataset
from veracity.experiments.cli import study_main
from veracity.experiments.knowing.pik_parts import (
    PIKConfig,
    answer_and_split,
    category_prior,
    evaluate,
    fit_pik_head,
    question_activations,
    training_target,
    write_answers,
)
from veracity.experiments.knowing.pik_passages import passage_heads, source_passages
from veracity.experiments.knowing.pik_report import write_pik_report
from veracity.experiments.results import Results, study_results
from veracity.hooks import LAYER_CONVENTION, SITE
from veracity.hooks.generation import p_true
from veracity.probes import PIKHead, auroc
from veracity.probes.evaluation import estimate, mean_estimate

logger = logging.getLogger(__name__)

P_TRUE_VARIANTS = ("plain", "few_shot", "own_turn", "samples")
"""How P(True) can be asked: plain, after few-shot examples, in its own turn after the answer, beside samples."""


@dataclass(kw_only=True)
class Config(PIKConfig):
    """Settings of the P(IK) versus P(True) experiment.

    Attributes:
        p_true: Comma-separated P(True) variants to score, plain always among them: plain, few_shot, own_turn,
            samples (samples is left out when --k is 0: there are no samples to show).
        passages: Also ask the held-out capital questions after a relevant, an irrelevant and no source passage
            (Kadavath et al.'s P(IK) with source material), read by the head and by one trained on a mix of bare and
            passage-prefixed training questions (:mod:`.pik_passages`).
    """

    p_true: str = ",".join(P_TRUE_VARIANTS)
    passages: bool = True

    def __post_init__(self):
        super().__post_init__()
        unknown = [v for v in self.p_true_list if v not in P_TRUE_VARIANTS]
        if unknown or not self.p_true_list:
            raise ValueError(f"--p-true: unknown {unknown or 'empty'}; choose from {', '.join(P_TRUE_VARIANTS)}")
        if "plain" not in self.p_true_list:
            raise ValueError("--p-true must include plain: the report sets P(IK) against the plain P(True)")

    @property
    def p_true_list(self) -> list[str]:
        """The requested P(True) variants."""
        return [v.strip() for v in self.p_true.split(",") if v.strip()]


def per_layer_auroc(acts, target, correct, train, test, config) -> list[dict]:
    """Held-out AUROC of a P(IK) head at every layer (exploratory: not used to pick the layer)."""
    rows = []
    for layer in range(acts.shape[1]):
        head = PIKHead(hidden=config.hidden or None, weight_decay=config.weight_decay, seed=config.seed)
        p = head.fit(acts[train, layer], target[train]).predict_true(acts[test, layer])
        rows.append({"layer": layer, "auroc": auroc(p, correct[test])})
    return rows


def run(config: Config, model=None) -> Results:
    """Answer, grade, fit P(IK), score P(IK) and P(True); write the outputs. Returns results."""
    model = model or config.load_model()
    layer = config.layer_index(model.n_layers)
    logger.info("[P(IK) 1/5] answering the questions (greedy, plus %d samples each)", config.k)
    data, graded, train, test = answer_and_split(model, config)
    correct = graded.correct
    logger.info("[P(IK) 2/5] reading the questions' activations and fitting the P(IK) head at layer %d", layer)
    acts = question_activations(model, data, config)
    target = training_target(graded, config.target)
    head = fit_pik_head(model, data, target, train, acts[:, layer], layer, config)
    logger.info("[P(IK) 3/5] asking the model P(True) about its own answers (%s)", config.p_true)
    probs = {"p_ik": head.predict_true(acts[:, layer])}
    variants = {"plain": ("p_true", {}), "few_shot": ("p_true_few_shot", {"shots": True}),
                "own_turn": ("p_true_own_turn", {"own_turn": True}),
                "samples": ("p_true_samples", {"samples": graded.samples})}
    for variant in config.p_true_list:
        name, options = variants[variant]
        if variant != "samples" or config.k:
            probs[name] = p_true(model, data, graded.greedy, config.batch_size, **options)
    probs["category_prior"] = category_prior(data, correct, train)
    metrics = {name: evaluate(p[test], correct[test], config.seed) for name, p in probs.items()}
    logger.info("[P(IK) 4/5] P(IK) with source passages before the question%s", "" if config.passages else
                ": left out (--no-passages)")
    passages, selection = {}, None
    if config.passages:
        fitted = passage_heads(model, data, acts[:, layer], target, correct, train, layer, config)
        heads = {"": head, **{name: fit[0] for name, fit in fitted.items()}}
        passages = source_passages(model, data, heads, layer, test, config, bare_acts=acts[:, layer])
        selection = ({"chosen": fitted["mixed"][0].weight_decay, "cross_validation": fitted["mixed"][1],
                      "paired": {"chosen": fitted["paired"][0].weight_decay,
                                 "cross_validation": fitted["paired"][1]}} if fitted else None)
    logger.info("[P(IK) 5/5] the head's AUROC at every layer")
    results = study_results(
        "pik", model, config, _headline(metrics, passages, correct[test], config.seed),
        tables={"per_layer_auroc": per_layer_auroc(acts, target, correct, train, test, config)},
        model_id=model.model_id, layer=layer, site=SITE, layer_convention=LAYER_CONVENTION,
        position="last token of the chat-formatted question prompt", n_questions=len(data), n_train=len(train),
        n_test=len(test), accuracy_greedy=float(correct.mean()), accuracy_sampled=float(graded.soft.mean()),
        accuracy_by_category=_by_category(data, correct, graded.soft), metrics=metrics,
        auroc_within_category=_within_category(data, probs, correct, test),
        metric_note="held-out split; label = greedy answer correct; AUROC CI = 1000-sample percentile bootstrap",
        p_true_confounds=p_true_confounds(graded.greedy, correct, probs, test), source_passages=passages,
        mixed_head_weight_decay=selection)
    out = Path(config.out)
    results.write(out)
    columns = {"samples": graded.samples, "fraction_correct": graded.soft, **probs}
    write_answers(out / "answers.jsonl", data, graded, test, columns)
    head.save(out / "pik_head")
    write_pik_report(out / "report.html", results, probs, correct, test)
    return results


def _headline(metrics: dict, passages: dict, correct_test: np.ndarray, seed: int) -> dict:
    """Figure name -> value and 95% interval: each score's held-out AUROC, accuracy, P(IK) with passages."""
    headline = {f"auroc_{name}": estimate(m["auroc"], *m["auroc_ci95"]) for name, m in metrics.items()}
    headline["accuracy_held_out"] = mean_estimate(correct_test, seed)
    for condition, entry in passages.items():
        headline[f"mean_p_ik_passage_{condition}"] = entry["mean_p_ik"]
        for name in ("mixed", "paired"):
            if f"mean_p_ik_{name}" in entry:
                headline[f"mean_p_ik_{name}_head_passage_{condition}"] = entry[f"mean_p_ik_{name}"]
                if entry[f"auroc_{name}"] is not None:
                    headline[f"auroc_{name}_head_passage_{condition}"] = entry[f"auroc_{name}"]
        headline[f"accuracy_passage_{condition}"] = entry["accuracy"]
        headline[f"mean_p_ik_target_passage_{condition}"] = entry["mean_target"]
    return headline


def answer_format(answer: str) -> str:
    """"empty", "multiline" (more than one non-empty line), "bare" (at most 3 words), "sentence" (longer, ending
    in . ! ? or a quote) or "cut_off" (longer and unfinished: generation stopped mid-sentence)."""
    lines = [line for line in answer.splitlines() if line.strip()]
    if not lines:
        return "empty"
    if len(lines) > 1:
        return "multiline"
    if len(lines[0].split()) <= 3:
        return "bare"
    return "sentence" if lines[0].rstrip()[-1] in ".!?\"'" else "cut_off"


def p_true_confounds(answers: list[str], correct: np.ndarray, probs: dict, test: np.ndarray) -> dict:
    """Does P(True) follow the answer's length or format rather than its correctness? (held-out questions)

    Per P(True) variant: Spearman correlation with the answer's length in words, correctness of each
    format, mean P(True) of right and wrong answers in each format, and AUROC inside each format and
    inside each third of the length distribution (length held fixed).
    """
    from scipy.stats import spearmanr

    words = np.array([len(a.split()) for a in answers])[test]
    formats = np.array([answer_format(a) for a in answers])[test]
    y = correct[test]
    cuts = np.unique(np.quantile(words, [1 / 3, 2 / 3]))
    tertile = np.searchsorted(cuts, words, side="right")
    out = {"words_vs_correct_spearman": _spearman(spearmanr, words, y),
           "formats": {f: {"n": int((formats == f).sum()), "accuracy": float(y[formats == f].mean())}
                       for f in dict.fromkeys(formats)}}
    for name in (n for n in probs if n.startswith("p_true")):
        p = probs[name][test]
        strata = {}
        for label, mask in [*((f"format={f}", formats == f) for f in dict.fromkeys(formats)),
                            *((f"words_tertile={t}", tertile == t) for t in np.unique(tertile))]:
            strata[label] = {"n": int(mask.sum()), "mean_right": _mean_or_none(p[mask & (y == 1)]),
                             "mean_wrong": _mean_or_none(p[mask & (y == 0)]),
                             "auroc": auroc(p[mask], y[mask]) if 0 < y[mask].sum() < mask.sum() else None}
        out[name] = {"words_spearman": _spearman(spearmanr, words, p), "strata": strata}
    return out


def _spearman(spearmanr, a, b) -> float | None:
    return None if np.ptp(a) == 0 or np.ptp(b) == 0 else float(spearmanr(a, b).statistic)


def _mean_or_none(x: np.ndarray) -> float | None:
    return float(x.mean()) if len(x) else None


def _within_category(data: QADataset, probs: dict, correct: np.ndarray, test: np.ndarray) -> dict[str, dict]:
    """Held-out AUROC of each score inside each category with both outcomes (difficulty held fixed)."""
    cats = np.array([item.category for item in data.items])[test]
    out = {}
    for c in dict.fromkeys(cats):
        y = correct[test][cats == c]
        if 0 < y.sum() < len(y):
            out[c] = {"n": int(len(y)), **{name: auroc(p[test][cats == c], y) for name, p in probs.items()
                                           if name != "category_prior"}}
    return out


def _by_category(data: QADataset, correct: np.ndarray, soft: np.ndarray) -> dict[str, dict]:
    cats = [item.category for item in data.items]
    return {c: {"n": int(sum(x == c for x in cats)),
                "greedy": float(np.mean([k for k, x in zip(correct, cats) if x == c])),
                "sampled": float(np.mean([s for s, x in zip(soft, cats) if x == c]))} for c in dict.fromkeys(cats)}


def main(argv=None, model=None) -> Results:
    """Command-line entry point; returns the :class:`Results`."""
    return study_main(Config, run, argv, model=model)


if __name__ == "__main__":
    main()
