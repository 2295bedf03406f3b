"""Polarity-aware CCS across layers: does one probe give a statement and its negation opposite verdicts?

For statement pairs (A, not-A), each completed with a "no" and a "yes" answer, the script extracts
the four prompts' last-token activations, fits :class:`veracity.probes.PolarityAwareCCS` at every requested
layer on a training split (with per-cell normalisation, and with A / not-A pooled for comparison),
and reports on the held-out split the accuracy for A, the AUROC, Polar-Consistency (0 is ideal) and
the Contradiction Index (high when A and not-A get the same verdict). The control replaces "not" by
a meaningless word, so a probe that only tracks the word "not" shows up. A random direction on A's
pairs is the chance baseline.

Example:
    python -m veracity.experiments.truth.polarity --kind cities --n 400 --layers every:2
    python -m veracity.experiments.truth.polarity --kind ../shared/datasets/geometry_of_truth/cities.csv \\
        --negated ../shared/datasets/geometry_of_truth/neg_cities.csv
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
from jaxtyping import Float, Int
from torch import Tensor

from veracity.constraints import FRACTION, Interval
from veracity.data import (
    CONTRAST_TEMPLATES,
    POLARITY_KINDS,
    PolarityPairs,
    load_statements,
    negation_control,
    polarity_from_datasets,
    polarity_pairs,
)
from veracity.experiments.cli import study_main
from veracity.experiments.config import StudyConfig
from veracity.experiments.report import metric_by_layer_figure, table_html, write_report
from veracity.experiments.results import Results, study_results
from veracity.hooks import LAYER_CONVENTION, SITE, extract
from veracity.hooks.convention import check_layer_spec, layers_from_spec
from veracity.probes import PolarityAwareCCS, RandomDirectionProbe
from veracity.probes.evaluation import best_layer_headline, best_layers, held_out_metrics
from veracity.probes.splits import grouped_split, validation_split

logger = logging.getLogger(__name__)

SIGN_NOTE = "unsupervised fit; train labels used only to choose the sign (held-out accuracy of that sign)"


@dataclass(kw_only=True)
class PolarityConfig(StudyConfig):
    """Settings of a polarity-aware CCS run over layers.

    Attributes:
        kind: Built-in polarity pairs (cities, larger_than) or a statement,label CSV/JSONL of A statements.
        negated: With a CSV for --kind: the row-aligned negations (every label flipped), e.g. neg_cities.csv.
        layers: Layers: all, every:K, comma-separated indices (negatives count from the end) or ranges A:B[:K].
        n: Use a seeded random sample of at most this many statement pairs (0 = all).
        template: Contrast template that completes each statement with its no/yes answer (plain, yes_no, suffix, chat, chat_yes_no).
        control_token: The meaningless word that replaces "not" in the control ("" = no control run).
        polarity_weight: Weight of the polarity term in the loss (0 = plain CCS on all 2n pairs).
        restarts: Random restarts per fit (the lowest loss wins).
        epochs: Full-batch Adam steps per fit.
        random_directions: Random directions averaged for the chance baseline.
        test_fraction: Fraction of the entities held out (a city's pairs sit on one side of the split).
        group_by: The entity column of the A statements that groups pairs in the split ("auto": city for
            cities, n1 for larger_than, each pair alone when there is none; "row"; or a column name).
    """

    study = "polarity"

    kind: str = "cities"
    negated: str = ""
    layers: str = "every:2"
    n: int = 400
    template: str = "plain"
    control_token: str = "blick"
    polarity_weight: float = 1.0
    restarts: int = 10
    epochs: int = 1000
    random_directions: int = 10
    test_fraction: float = 0.3
    group_by: str = "auto"

    def default_out(self) -> str:
        """artifacts/polarity/<dataset name>."""
        return str(Path("polarity") / Path(self.kind).stem)

    constraints: ClassVar[dict] = {"n": [Interval(int, 0, note="0 = every row")], "test_fraction": [FRACTION]}

    def __post_init__(self):
        super().__post_init__()
        if self.template not in CONTRAST_TEMPLATES:
            raise ValueError(f"--template {self.template!r}: choose from {', '.join(CONTRAST_TEMPLATES)}")
        if self.kind not in POLARITY_KINDS and not self.negated:
            raise ValueError(f"--kind {self.kind!r} is not built in ({', '.join(POLARITY_KINDS)}): "
                             "give its row-aligned negations with --negated")
        check_layer_spec(self.layers)

    def layer_indices(self, n_layers: int) -> list[int]:
        """Resolve ``layers`` against a model with ``n_layers`` blocks."""
        return layers_from_spec(self.layers, n_layers)


def load_pairs(config: PolarityConfig) -> PolarityPairs:
    """The (sampled) polarity pairs named by ``--kind`` / ``--negated``."""
    if config.negated:
        pairs = polarity_from_datasets(load_statements(config.kind), load_statements(config.negated),
                                       group_by=config.group_by)
    else:
        pairs = polarity_pairs(config.kind, group_by=config.group_by)
    return pairs.sample(config.n, config.seed) if config.n else pairs


def extract_cells(model, pairs: PolarityPairs, config: PolarityConfig, layers: list[int],
                  affirmed: Float[Tensor, "n 1 2 layer d_model"] | None = None) -> Float[Tensor, "n 2 2 layer d_model"]:
    """Last-token activations of the ``4n`` prompts, shaped ``[pair, A / not-A, no / yes, layer, d_model]``.

    With ``affirmed`` (the A cells of pairs that share these A statements, e.g. for the control),
    only the not-A prompts are run.
    """
    texts = pairs.texts(config.template, model.tokenizer)
    statements = (0, 1) if affirmed is None else (1,)
    flat = [pair[s][c] for pair in texts for s in statements for c in (0, 1)]
    acts = extract(model, flat, layers=layers, batch_size=config.batch_size, cache=config.activation_cache).reshape(len(pairs), len(statements), 2, len(layers), -1)
    return acts if affirmed is None else torch.cat([affirmed, acts], dim=1)


def fit_cells(config: PolarityConfig, x: Float[Tensor, "n 2 2 d_model"], labels: Int[np.ndarray, " n"],
              train: np.ndarray, test: np.ndarray, per_cell: bool) -> dict:
    """Fit one PolarityAwareCCS on the training pairs; held-out accuracy, AUROC and polarity metrics."""
    probe = PolarityAwareCCS(polarity_weight=config.polarity_weight, per_cell=per_cell, n_restarts=config.restarts,
                             n_epochs=config.epochs, seed=config.seed).fit(x[train], labels[train])
    report = probe.polarity_report(x[test])
    return {**held_out_metrics(probe.predict_true(x[test]), labels[test]), **report, "train_loss": probe.loss_}


def random_baseline(config: PolarityConfig, x: Float[Tensor, "n 2 2 d_model"], labels: Int[np.ndarray, " n"],
                    train: np.ndarray, test: np.ndarray) -> dict:
    """Random directions on A's no/yes pairs (each sign fixed on the training split): the chance level.

    Returns the mean metrics over ``config.random_directions`` seeds and the accuracy's spread.
    """
    scores = []
    for seed in range(config.seed, config.seed + config.random_directions):
        probe = RandomDirectionProbe(seed=seed).fit(x[train, 0], labels[train])
        scores.append(held_out_metrics(probe.predict_true(x[test, 0]), labels[test]))
    mean = {k: float(np.mean([s[k] for s in scores])) for k in scores[0]}
    return {**mean, "accuracy_std": float(np.std([s["accuracy"] for s in scores]))}


def run(config: PolarityConfig, model=None) -> Results:
    """Fit every variant at every layer; write ``results.json`` and ``report.html`` into ``config.out``."""
    pairs = load_pairs(config)
    model = model or config.load_model()
    layers = config.layer_indices(model.n_layers)
    train, test = grouped_split(pairs.groups, config.test_fraction, config.seed, labels=pairs.labels)
    real = extract_cells(model, pairs, config, layers)
    control = None
    if config.control_token:
        control = extract_cells(model, negation_control(pairs, config.control_token), config, layers, real[:, :1])
    records = []
    base = {"dataset": pairs.name, "n_train": len(train), "n_test": len(test), "template": config.template,
            "sign": SIGN_NOTE}
    fit, val = validation_split(pairs.groups, pairs.labels, train, config.seed)

    def variants(j: int, on: np.ndarray, scored: np.ndarray) -> dict[str, dict]:
        x = real[..., j, :]
        found = {"pa_ccs": fit_cells(config, x, pairs.labels, on, scored, per_cell=True),
                 "pa_ccs_pooled": fit_cells(config, x, pairs.labels, on, scored, per_cell=False),
                 "random": random_baseline(config, x, pairs.labels, on, scored)}
        if control is not None:
            found["control_pa_ccs"] = fit_cells(config, control[..., j, :], pairs.labels, on, scored, per_cell=True)
        return found

    for j, layer in enumerate(layers):
        found = variants(j, train, test)
        if val is not None:  # each variant fitted on the rest of the training split, scored on its validation part
            for name, on_val in variants(j, fit, val).items():
                found[name]["validation_accuracy"] = on_val["accuracy"]
        records += [{"layer": layer, "probe": name, **metrics, **base} for name, metrics in found.items()]
        logger.info("layer %d: %s", layer, ", ".join(f"{k} {v['accuracy']:.3f}" for k, v in found.items()))
    best = best_layers(records, by="validation_accuracy" if val is not None else "accuracy")
    example = pairs.texts(config.template)[0] if "chat" not in config.template else None
    results = study_results(
        "polarity", model, config, best_layer_headline(best, ("accuracy", "auroc", "contradiction_index")),
        tables={"by_layer": records}, site=SITE, layer_convention=LAYER_CONVENTION, position="last token",
        n=len(pairs), grouped_by=config.group_by, n_groups=int(len(np.unique(pairs.groups))),
        class_balance=float(np.mean(pairs.labels)), best=best,
        best_note=("per variant, the layer with the highest accuracy on a validation quarter of the training pairs "
                   "(fitted on the rest); its figures are held-out, from the variant fitted on the whole training "
                   "split" if val is not None else "no validation part (too few pairs): the layer with the highest "
                   "held-out accuracy (optimistic)"),
        example={"A": pairs.affirmed[0], "not_A": pairs.negated[0], "prompts": example})
    results.write(config.out)
    write_report_page(config, records, best, pairs, model.model_id)
    return results


def write_report_page(config: PolarityConfig, records: list[dict], best: dict, pairs: PolarityPairs,
                      model_id: str) -> None:
    """report.html: accuracy by layer (95% intervals where the probe has them), the best layers, polarity metrics."""
    out = Path(config.out)
    columns = ["probe", "layer", "validation_accuracy", "accuracy", "auroc", "polar_consistency", "contradiction_index", "ece"]
    notes = (f"<p>{len(pairs)} pairs of {pairs.name} (A / not-A), template {config.template!r}, model {model_id}; "
             f"held-out split of {records[0]['n_test']}. pa_ccs: per-cell normalisation; pa_ccs_pooled: A and not-A "
             "pooled per completion; control: 'not' replaced by a meaningless word; random: the mean of "
             f"{config.random_directions} random directions on A's pairs. Signs are fixed on the training split. "
             "Polar-Consistency: 0 is ideal, negative means self-contradiction. Contradiction Index: high when A and not-A get the same verdict.</p>")
    polar = [r for r in records if "contradiction_index" in r]
    parts = [notes, metric_by_layer_figure(records, "accuracy"),
             table_html([{c: r.get(c) for c in columns} for r in best.values()], columns,
                        caption="Best layer per variant (chosen on validation, scored held out)"),
             metric_by_layer_figure(polar, "contradiction_index", chance=None),
             metric_by_layer_figure(polar, "polar_consistency", chance=0.0)]
    write_report(out / "report.html", f"Polarity-aware CCS: {pairs.name}", parts)


def main(argv=None, model=None) -> Results:
    """Command-line entry point; returns the :class:`Results`."""
    return study_main(PolarityConfig, run, argv, model=model)  # run reads the pairs before it loads the model


if __name__ == "__main__":
    main()
