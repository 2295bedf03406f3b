"""Truth-probe sweep: fit supervised and unsupervised probes at every layer, score them held out.

    python -m veracity.experiments.truth.truth_sweep --dataset cities --out artifacts/sweep/cities --layers every:2

Supervised probes (logistic, mass-mean) see the statement's last-token activations; CCS, CRC-TPC
and random directions see contrast pairs: the statement completed with the "no" and the "yes"
answer of a prompt template, or (``--pairs negation``) the negated statement and the statement.
The split is grouped by entity (``--group-by``: a city's true and false statements sit on one side)
and statistics (standardisation, pair normalisation) come from the training split only.
Labels touch the unsupervised probes once: to choose the sign of the direction on the training
split; ``accuracy`` is that sign-fixed held-out accuracy. Writes ``results.json`` (one record per
layer and probe), ``summary.json`` (config, best layers, zero-shot) and ``report.html``.
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

from veracity.constraints import FRACTION, Interval, Options
from veracity.data import (
    BUILTIN_DATASETS,
    CONTRAST_TEMPLATES,
    StatementDataset,
    contrast_pairs,
    load_statements,
    question_prompts,
    replace_negation,
)
from veracity.experiments.cli import study_main
from veracity.experiments.config import StudyConfig
from veracity.experiments.results import Results, study_results
from veracity.experiments.truth.truth_report import write_sweep_report
from veracity.hooks import LAYER_CONVENTION, SITE, extract, token_probability
from veracity.hooks.convention import check_layer_spec, layers_from_spec
from veracity.probes import CCS, CRCProbe, LogisticProbe, MassMeanProbe, RandomDirectionProbe, bootstrap_accuracy_auroc
from veracity.probes.evaluation import best_layer_headline, best_layers, held_out_metrics
from veracity.probes.splits import grouped_split, validation_split

logger = logging.getLogger(__name__)

PROBES = ("logistic", "mass_mean", "ccs", "crc", "random")
PAIR_PROBES = ("ccs", "crc", "random")
SIGN_NOTE = "unsupervised fit; train labels used only to choose the sign (held-out accuracy of that sign)"


@dataclass(kw_only=True)
class SweepConfig(StudyConfig):
    """Settings of a truth-probe sweep over layers.

    Attributes:
        dataset: Built-in name (cities, neg_cities, larger_than, neg_larger_than) or a statement,label CSV/JSONL.
        layers: Layers: all, every:K, comma-separated indices (negatives count from the end) or ranges A:B[:K].
        n: Use a seeded random sample of at most this many statements (0 = all).
        test_fraction: Fraction of the entities held out; every reported metric is measured on their statements.
        group_by: What keeps statements together in the split: "auto" (the dataset's entity column: city for
            cities, n1 for larger_than; each row alone when it has none), "row", or a column name.
        pairs: Contrast pairs for ccs/crc/random: a template (plain, yes_no, suffix, chat, chat_yes_no) completing
            the statement with its no/yes answer, or "negation" (index 0 = the negated statement, 1 = the statement).
        negated: With --pairs negation: the negated dataset, aligned row by row (default for a built-in: neg_<name>).
        control_token: With --pairs negation: replace "not" in every negated statement by this meaningless word
            (e.g. blick), a control that keeps the pair's surface difference but removes the negation.
        probes: Comma-separated probes to fit: logistic, mass_mean, ccs, crc, random.
        normalize: Pair normalisation for ccs/crc/random: mean (Burns' default), meanvar or none (training statistics).
        ccs_restarts: CCS random restarts (the lowest loss wins).
        ccs_epochs: CCS full-batch Adam steps.
        logistic_c: Inverse L2 strength of the logistic probe (on standardised features).
        random_directions: Random directions averaged for the random baseline.
        zero_shot: Also score the model's own next-token P(yes) for the template's question (one extra pass).
    """

    study = "truth_sweep"

    dataset: str
    layers: str = "all"
    n: int = 800
    test_fraction: float = 0.3
    group_by: str = "auto"
    pairs: str = "plain"
    negated: str = ""
    control_token: str = ""
    probes: str = ",".join(PROBES)
    normalize: str = "mean"
    ccs_restarts: int = 10
    ccs_epochs: int = 1000
    logistic_c: float = 0.1
    random_directions: int = 10
    zero_shot: bool = True

    def default_out(self) -> str:
        """artifacts/truth_sweep/<dataset name>."""
        return str(Path("truth_sweep") / Path(self.dataset).stem)

    constraints: ClassVar[dict] = {
        "normalize": [Options("mean", "meanvar", "none")],
        "n": [Interval(int, 0, note="0 = every row")],
        "test_fraction": [FRACTION],
    }

    def __post_init__(self):
        super().__post_init__()
        if self.pairs != "negation" and self.pairs not in CONTRAST_TEMPLATES:
            raise ValueError(f"--pairs {self.pairs!r}: use 'negation' or a template ({', '.join(CONTRAST_TEMPLATES)})")
        unknown = [p for p in self.probe_list if p not in PROBES]
        if unknown or not self.probe_list:
            raise ValueError(f"--probes: unknown {unknown or 'empty'}; choose from {', '.join(PROBES)}")
        if self.control_token and self.pairs != "negation":
            raise ValueError("--control-token only applies to --pairs negation")
        check_layer_spec(self.layers)

    @property
    def probe_list(self) -> list[str]:
        """The requested probe names."""
        return [p.strip() for p in self.probes.split(",") if p.strip()]

    def layer_indices(self, n_layers: int) -> list[int]:
        """Resolve ``layers`` against a model with ``n_layers`` blocks."""
        return layers_from_spec(self.layers, n_layers)


def load_sweep_data(config: SweepConfig):
    """The (sampled) dataset and, for ``--pairs negation``, its aligned negation."""
    data = load_statements(config.dataset)
    negated = None
    if config.pairs == "negation":
        name = config.negated or (f"neg_{config.dataset}" if f"neg_{config.dataset}" in BUILTIN_DATASETS else "")
        if not name:
            raise ValueError("--pairs negation needs --negated PATH_OR_NAME (the negated statements, row-aligned)")
        negated = load_statements(name)
        if len(negated) != len(data) or (negated.labels == data.labels).any():
            raise ValueError(f"{name} is not the row-aligned negation of {config.dataset} (lengths or labels differ)")
        if config.control_token:
            control = replace_negation(negated.statements, config.control_token)
            negated = StatementDataset(control, negated.labels, f"{negated.name}_{config.control_token}",
                                       dict(negated.extra))
    if config.n and config.n < len(data):
        idx = np.sort(np.random.default_rng(config.seed).choice(len(data), config.n, replace=False))
        data, negated = data.subset(idx), None if negated is None else negated.subset(idx)
    data.groups(config.group_by)  # an unknown column fails here, before the model loads
    return data, negated


def pair_texts(config: SweepConfig, data, negated, tokenizer) -> tuple[list[str], list[str]]:
    """``(texts_no, texts_yes)`` for the contrast-pair probes."""
    if config.pairs == "negation":
        return list(negated.statements), list(data.statements)
    return contrast_pairs(data.statements, config.pairs, tokenizer)


def make_probe(name: str, config: SweepConfig, seed: int):
    """A fresh, unfitted probe for ``name``."""
    if name == "logistic":
        return LogisticProbe(C=config.logistic_c)
    if name == "mass_mean":
        return MassMeanProbe()
    if name == "ccs":
        return CCS(n_restarts=config.ccs_restarts, n_epochs=config.ccs_epochs, normalize=config.normalize, seed=seed)
    if name == "crc":
        return CRCProbe(normalize=config.normalize)
    return RandomDirectionProbe(seed=seed, normalize=config.normalize)


BEST_NOTE = ("per probe, the layer with the highest accuracy on a validation quarter of the training entities (probes "
             "fitted on the other three quarters); its figures are those of the probe fitted on the whole training "
             "split, scored on the held-out split")
OPTIMISTIC_NOTE = ("the training split is too small for a validation part: the layer with the highest held-out accuracy "
                   "(a max over layers: optimistic)")


def fit_layer(config: SweepConfig, statements: Float[Tensor, "n d_model"], pairs: Float[Tensor, "n 2 d_model"],
              labels: Int[np.ndarray, " n"], train: np.ndarray, test: np.ndarray, intervals: bool = True
              ) -> tuple[list[dict], dict[str, np.ndarray]]:
    """Fit every requested probe on one layer; return records and held-out P(true) per probe.

    Args:
        config: The sweep settings.
        statements: ``(n, d_model)`` statement activations at this layer.
        pairs: ``(n, 2, d_model)`` contrast pairs at this layer (index 0 = no, 1 = yes).
        labels: ``(n,)`` 0/1.
        train: Training indices.
        test: Held-out indices.
        intervals: Add bootstrap intervals (left out for validation scores, which only choose a layer).

    Returns:
        ``(records, probs)``: one metrics dict per probe, and the held-out probabilities.
    """
    records, probs = [], {}
    y_train, y_test = labels[train], labels[test]
    for name in config.probe_list:
        x = pairs if name in PAIR_PROBES else statements
        seeds = range(config.seed, config.seed + config.random_directions) if name == "random" else [config.seed]
        runs = [make_probe(name, config, s).fit(x[train], y_train).predict_true(x[test]) for s in seeds]
        scores = [held_out_metrics(p, y_test) for p in runs]
        record = {"probe": name, **{k: float(np.mean([s[k] for s in scores])) for k in scores[0]}}
        if name in PAIR_PROBES:
            record["accuracy_either_sign"] = float(np.mean([max(s["accuracy"], 1 - s["accuracy"]) for s in scores]))
            record["sign"] = SIGN_NOTE
        else:
            record["sign"] = "supervised"
        if name == "random":
            record["accuracy_std"] = float(np.std([s["accuracy"] for s in scores]))
        elif intervals:  # 95% percentile-bootstrap intervals over the held-out examples (1000 resamples)
            for metric, ci in bootstrap_accuracy_auroc(runs[0], y_test, seed=config.seed).items():
                record[f"{metric}_ci95"] = [ci.low, ci.high]
        records.append(record)
        probs[name] = runs[0]
    return records, probs


def zero_shot(config: SweepConfig, model, data, test: np.ndarray) -> dict | None:
    """The model's own P(yes) for the question, scored on the held-out split."""
    if not config.zero_shot:
        return None
    template = "plain" if config.pairs == "negation" else config.pairs
    spec = CONTRAST_TEMPLATES[template]
    prompts = question_prompts([data.statements[i] for i in test], template, model.tokenizer)
    p = token_probability(model, prompts, yes=spec.answers[1], no=spec.answers[0],
                          batch_size=config.batch_size).double().numpy()
    return {"template": template, **held_out_metrics(p, data.labels[test])}


def run(config: SweepConfig, model=None, data=None) -> Results:
    """Run the sweep and write results.json and report.html into ``config.out``.

    Args:
        config: Settings.
        model: An already-loaded model (default: load ``config.model``).
        data: ``load_sweep_data(config)`` if already loaded.

    Returns:
        The :class:`Results`: per probe the best layer's held-out accuracy and AUROC in the headline,
        every layer and probe in the ``by_layer`` table.
    """
    data, negated = data or load_sweep_data(config)
    model = model or config.load_model()
    layers = config.layer_indices(model.n_layers)
    groups = data.groups(config.group_by)
    train, test = grouped_split(groups, config.test_fraction, config.seed, labels=data.labels)
    common = {"layers": layers, "batch_size": config.batch_size, "cache": config.activation_cache}
    statements = extract(model, data.statements, **common)
    texts_no, texts_yes = pair_texts(config, data, negated, model.tokenizer)
    if any(p in PAIR_PROBES for p in config.probe_list):
        pair_acts = torch.stack([extract(model, texts_no, **common), extract(model, texts_yes, **common)], dim=1)
    else:
        pair_acts = torch.stack([statements, statements], dim=1)
    fit, val = validation_split(groups, data.labels, train, config.seed)
    records, test_probs = [], {}
    base = {"dataset": data.name, "n_train": len(train), "n_test": len(test), "pairs": config.pairs}
    for j, layer in enumerate(layers):
        layer_records, test_probs[layer] = fit_layer(config, statements[:, j], pair_acts[:, :, j], data.labels,
                                                     train, test)
        if val is not None:  # the same probes fitted on the rest of the training split, scored on its validation part
            checked, _ = fit_layer(config, statements[:, j], pair_acts[:, :, j], data.labels, fit, val, intervals=False)
            for record, on_val in zip(layer_records, checked, strict=True):
                record["validation_accuracy"] = on_val["accuracy"]
        records += [{"layer": layer, **r, **base} for r in layer_records]
        logger.info("layer %d: %s", layer, ", ".join(f"{r['probe']} {r['accuracy']:.3f}" for r in layer_records))
    best = best_layers(records, by="validation_accuracy" if val is not None else "accuracy")
    results = study_results(
        "truth_sweep", model, config, best_layer_headline(best), tables={"by_layer": records},
        site=SITE, layer_convention=LAYER_CONVENTION, position="last token", n=len(data), dataset=data.name,
        n_train=len(train), n_test=len(test),
        split={"grouped_by": data.group_column(config.group_by), "n_groups": int(len(np.unique(groups))),
               "held_out_groups": sorted(np.unique(groups[test]).tolist())},
        example_pair={"no": texts_no[0], "yes": texts_yes[0]}, zero_shot=zero_shot(config, model, data, test),
        best=best, best_note=BEST_NOTE if val is not None else OPTIMISTIC_NOTE,
        n_validation=0 if val is None else len(val))
    results.write(config.out)
    write_sweep_report(Path(config.out) / "report.html", results, statements, data.labels, train, test, layers,
                       test_probs)
    return results


def main(argv=None, model=None) -> Results:
    """Command-line entry point; returns the :class:`Results`."""
    return study_main(SweepConfig, run, argv, model=model)  # run reads the data before it loads the model


if __name__ == "__main__":
    main()
