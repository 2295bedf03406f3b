"""The headline demo: where does SmolLM2-135M-Instruct represent truth, does it know what it knows,
and can we push it toward honesty?

``make demo`` runs this on the embedded model (offline, a few minutes on 2 CPU cores):

1. a truth sweep over every third layer on the built-in city statements (logistic, mass-mean, and CCS, CRC
   and random on statement/negation pairs), the best layer's logistic probe saved as
   ``truth_probe.{safetensors,json}``, and CCS on answer-template pairs as the contrast where it fails;
2. a P(IK) run (arithmetic and capitals questions; P(IK) head vs the model's own P(True));
3. the honesty steering vector, swept over a few coefficients, saved as safetensors, JSON and GGUF.

Everything lands in ``artifacts/demo/``; ``artifacts/demo/report.html`` links every figure.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from veracity.experiments.cli import parse_config, study_main
from veracity.experiments.config import StudyConfig
from veracity.experiments.results import Results, study_results
from veracity.hooks import extract
from veracity.hooks.convention import LAYER_CONVENTION, SITE
from veracity.probes import LogisticProbe
from veracity.steering import SteeringVector

logger = logging.getLogger("veracity.experiments.demo")


@dataclass(kw_only=True)
class DemoConfig(StudyConfig):
    """The veracity headline study on one model, in a few minutes.

    Attributes:
        n: City statements in the truth sweep (at least 40).
    """

    study = "demo"

    n: int = 400

    def __post_init__(self):
        super().__post_init__()
        if self.n < 40:
            raise ValueError(f"--n must be at least 40 statements (a 70/30 split with both labels on each side), "
                             f"got {self.n}")


SWEEP_LAYERS = "every:3"
"""The demo's truth sweep reads every third layer (each probe is fitted twice per layer: on the training split, and
on three quarters of it to choose the best layer on the fourth); ``veracity run truth_sweep`` reads them all."""

CONTRAST_N = 200
"""Statements in the answer-template contrast (its prompts are about three times as long to run)."""


def truth_part(args, out: Path, model):
    """The truth sweep on statement/negation pairs, the best layer's probe, and CCS on answer-template pairs.

    Returns:
        ``(sweep, contrast)``: the sweep's :class:`Results` (every probe at every third layer, the best layer
        per probe), and the :class:`Results` of CCS fitted on answer-template pairs (the statement + " True" / " False") at every fifth layer up to 20, on a
        seeded sample of at most ``CONTRAST_N`` of the statements (a contrast, kept short).
    """
    from veracity.experiments.truth.truth_sweep import SweepConfig, load_sweep_data
    from veracity.experiments.truth.truth_sweep import run as truth_sweep
    from veracity.probes.splits import grouped_split

    shared = dict(dataset="cities", model=args.model, n=args.n, seed=args.seed, device=args.device, dtype=args.dtype,
                  cache=args.cache)
    config = SweepConfig(pairs="negation", layers=SWEEP_LAYERS, zero_shot=False, out=str(out / "truth_sweep"), **shared)
    data, negated = load_sweep_data(config)
    sweep = truth_sweep(config, model=model, data=(data, negated))
    best = sweep["best"]["logistic"]
    train, _ = grouped_split(data.groups(config.group_by), config.test_fraction, config.seed, labels=data.labels)
    layers = config.layer_indices(model.n_layers)  # the sweep's own cached job: read back, not computed again
    acts = extract(model, data.statements, layers=layers, cache=config.activation_cache)[:, layers.index(best["layer"])]
    probe = LogisticProbe(C=config.logistic_c).fit(acts[train], data.labels[train])
    probe.set_provenance(model_id=model.model_id, layer=best["layer"], site=SITE, layer_convention=LAYER_CONVENTION,
                         dataset=data.name, n_train=len(train))
    probe.save(out / "truth_probe")
    logger.info("[1/3] the contrast: CCS on answer-template pairs (statement + True / False) at every fifth layer up to 20")
    template = SweepConfig(pairs="plain", probes="ccs", layers="0:21:5", zero_shot=False,
                           out=str(out / "truth_sweep_template"), **{**shared, "n": min(args.n, CONTRAST_N)})
    return sweep, truth_sweep(template, model=model)


def main(argv=None, model=None) -> Results:
    """Command-line entry point (``make demo``); returns the :class:`Results`."""
    return study_main(DemoConfig, run, argv, model=model)


def run(args: DemoConfig, model=None) -> Results:
    """The three parts, ``results.json`` (their headline figures) and the one-page report."""
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    model = model or args.load_model()
    common = ["--model", args.model, "--seed", str(args.seed)] + (["--device", args.device] if args.device else [])
    common += ["--dtype", args.dtype] if args.dtype else []

    logger.info("[1/3] truth sweep over every third layer of %d (cities and their negations, n=%d)", model.n_layers,
                args.n)
    sweep, contrast = truth_part(args, out, model)
    logger.info("[2/3] P(IK): does the model know what it knows?")
    from veracity.experiments.knowing import pik
    from veracity.experiments.steering import honesty_steering

    pik_results = pik.run(parse_config(pik.Config, ["--out", str(out / "pik"), "--n-per-level", "6",
                                                        "--n-capitals", "40", "--k", "3", "--p-true",
                                                        "plain,own_turn", "--no-passages", *common]), model=model)
    logger.info("[3/3] honesty steering vector")
    honesty = honesty_steering.run(parse_config(honesty_steering.Config, [
        "--out", str(out / "honesty"), "--n-train", "24", "--n-test", "24", "--layers", "12",
        "--coefficients", "-0.25", "0", "0.25", *common]), model=model)
    best = sweep["best"]
    contrast_rows = [{**r, "probe": "ccs on answer-template pairs"} for r in contrast.tables["by_layer"]]
    headline = {**{k: v for k, v in sweep.headline.items() if k.startswith(("accuracy_logistic", "accuracy_ccs"))},
                "accuracy_ccs_template_pairs_best_layer": contrast.headline["accuracy_ccs_best_layer"],
                **{k: v for k, v in pik_results.headline.items() if k.startswith("auroc_")},
                **{k: v for k, v in honesty.headline.items() if k.startswith("truthful_rate")}}
    results = study_results("demo", model, args, headline,
                            tables={"truth_by_layer": sweep.tables["by_layer"], "ccs_template_by_layer": contrast_rows},
                            best=best, parts={"truth_sweep": "truth_sweep/results.json", "pik": "pik/results.json",
                                              "honesty": "honesty/results.json"})
    results.write(out)
    write_demo_report(out, best, sweep.tables["by_layer"], contrast_rows, model.model_id)
    print(f"\nDone. Open {out / 'report.html'} in a browser.")
    print(f"  truth probe: best logistic layer {best['logistic']['layer']} "
          f"accuracy {best['logistic']['accuracy']:.3f} (held out)  -> {out / 'truth_probe.json'}")
    vector = SteeringVector.load(out / "honesty" / "honesty")
    print(f"  honesty vector: {out / 'honesty' / 'honesty.gguf'} and .safetensors; suggested coefficient "
          f"{vector.coefficient:.4g}: llama-cli -m MODEL.gguf --control-vector-scaled "
          f"{out / 'honesty' / 'honesty.gguf'} {vector.coefficient:.4g}")
    print(f"  all numbers: {out / 'results.json'} and the results.json of each part")
    return results


def write_demo_report(out: Path, best: dict, records: list[dict], contrast: list[dict], model_id: str) -> Path:
    """One page: the headline figure (held-out accuracy and AUROC by layer with 95% intervals, CCS on
    negation pairs beside CCS on answer-template pairs), the best-layer table, and links to each part's report."""
    from veracity.experiments.report import metric_by_layer_figure, table_html, write_report

    rows = [{"probe": p, "best layer": r["layer"], "validation accuracy": r.get("validation_accuracy"),
             "accuracy": round(r["accuracy"], 3), "auroc": round(r["auroc"], 3), "ece": round(r["ece"], 3)}
            for p, r in best.items()]
    links = "".join(f"<li><a href='{sub}/report.html'>{title}</a></li>" for sub, title in (
        ("truth_sweep", "Truth sweep: accuracy and AUROC by layer, PCA of the best layer, reliability diagram"),
        ("pik", "P(IK) vs P(True): AUROC, ECE and reliability diagrams against real correctness"),
        ("honesty", "Honesty steering: truthful-answer rate, KL and perplexity by coefficient")))
    headline = [
        "<h2>Where does the model represent truth?</h2>",
        "<p>Probes fitted on the training split of the city statements at every third layer, scored on the held-out "
        "cities (a city's statements never sit on both sides). CCS, CRC and random read contrast pairs of a "
        "statement and its negation (\"The city of Paris is in France.\" / \"... is not in France.\"). The "
        "contrast, <b>ccs on answer-template pairs</b>, is CCS fitted on the statement followed by \"True\" or "
        f"\"False\" (on a seeded sample of at most {CONTRAST_N} of the statements): on this model its interval includes "
        "chance at every layer (no truth direction found), the failure the negation pairs avoid. "
        "Shaded bands: 95% percentile-bootstrap intervals over held-out statements (1000 resamples); random: the "
        "mean of 10 random directions. Layer L = residual stream after block L.</p>",
        metric_by_layer_figure(records + contrast, "accuracy", title="Held-out accuracy by layer"),
        metric_by_layer_figure(records + contrast, "auroc", title="Held-out AUROC by layer"),
    ]
    parts = [*headline, "<h2>Best layer per probe (chosen on validation, scored held out)</h2>", table_html(rows),
             "<p>CCS, CRC and random use contrast pairs; their sign is fixed on the training split. Each probe's "
             "layer is the one with the highest accuracy on a validation quarter of the training cities (probes "
             "fitted on the rest); the figures are held-out, from the probe fitted on the whole training split.</p>",
             f"<h2>Figures</h2><ul>{links}</ul>"]
    return write_report(out / "report.html", f"veracity demo: {model_id}", parts)


if __name__ == "__main__":
    main()
