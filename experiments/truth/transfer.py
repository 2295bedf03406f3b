"""Cross-dataset generalisation of truth probes: train on each dataset, test on every other.

``python -m veracity.experiments.truth.transfer`` extracts the last-token residual stream at one layer for every
dataset, splits the entities 70/30 once for all datasets (seeded; a city held out of one dataset is held
out of every dataset that names it), fits a logistic and a mass-mean probe on each
training split and scores them on every dataset's test split. Cell ``(A, B)`` of the matrix is
"trained on A, tested on B"; the diagonal is ordinary held-out accuracy. Normalisation statistics
come from the training split only (the logistic probe standardises with them; the mass-mean
probe works in raw activation space). Test statements that also occur in the training split are
dropped from that cell, so near-duplicate datasets (the built-in ``cities`` and a
Geometry-of-Truth ``cities.csv``) cannot leak.

Writes ``OUT/results.json`` (every cell, the matrices, provenance), ``OUT/report.html``
(plotly heatmaps) and the fitted probes under ``OUT/probes/`` (two-file artifacts that
``python -m veracity.experiments.truth.token_view --probe`` reads).

Example:
    $ python -m veracity.experiments.truth.transfer --datasets 'cities,neg_cities,../shared/datasets/geometry_of_truth/*.csv'
"""

from __future__ import annotations

import glob
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
from jaxtyping import Float
from plotly.subplots import make_subplots
from torch import Tensor

from veracity.data import BUILTIN_DATASETS, StatementDataset, load_statements
from veracity.experiments.cli import study_main
from veracity.experiments.config import StudyConfig
from veracity.experiments.report import table_html, write_report
from veracity.experiments.results import Results, study_results
from veracity.hooks import LAYER_CONVENTION, SITE, extract
from veracity.hooks.convention import resolve_layers
from veracity.probes import LogisticProbe, MassMeanProbe, auroc
from veracity.probes.base import BaseProbe
from veracity.probes.splits import grouped_splits

__all__ = ["PROBES", "TransferConfig", "main", "resolve_datasets", "transfer_figure", "transfer_matrix"]

logger = logging.getLogger(__name__)

PROBES: dict[str, Callable[[], BaseProbe]] = {
    "logistic": lambda: LogisticProbe(C=0.1),
    "mass_mean": lambda: MassMeanProbe(),
}
"""The probes compared: name to a factory of an unfitted probe."""

METRICS = ("accuracy", "auroc")


@dataclass(kw_only=True)
class TransferConfig(StudyConfig):
    """Cross-dataset transfer of truth probes: train on each dataset, test on every other.

    Attributes:
        datasets: Comma-separated built-in names and/or statement,label CSV/JSONL paths; glob
            patterns are expanded (quote them), e.g. 'cities,neg_cities,data/*.csv'.
        layer: Layer to probe (residual stream after block L; negatives count from the end).
        n: Statements sampled per dataset (all when a dataset has fewer).
        train_fraction: Share of each dataset used for training; the rest is its test split.
    """

    study = "transfer"

    datasets: str = "cities,neg_cities,larger_than,neg_larger_than"
    layer: int = 12
    n: int = 400
    train_fraction: float = 0.7

    def __post_init__(self):
        super().__post_init__()
        if self.n < 10:
            raise ValueError(f"--n must be at least 10 statements per dataset, got {self.n}")
        if not 0.1 <= self.train_fraction <= 0.9:
            raise ValueError(f"--train-fraction must lie in [0.1, 0.9], got {self.train_fraction}")
        if len(resolve_datasets(self.datasets)) < 2:
            raise ValueError("--datasets needs at least two datasets to compare, e.g. 'cities,neg_cities'")


def resolve_datasets(spec: str | Sequence[str]) -> list[tuple[str, str]]:
    """Expand a dataset list into unique ``(display name, source)`` pairs.

    Args:
        spec: Comma-separated (or a list of) built-in names, file paths and glob patterns.

    Returns:
        ``(name, source)`` per dataset: built-ins keep their name, files use their stem, and
        clashing names get their parent folder prefixed (``geometry_of_truth/cities``).

    Raises:
        ValueError: A pattern matched no file, or a dataset is listed twice.

    Example:
        >>> resolve_datasets("cities,neg_cities")
        [('cities', 'cities'), ('neg_cities', 'neg_cities')]
    """
    items = [s.strip() for s in (spec.split(",") if isinstance(spec, str) else spec) if s.strip()]
    sources: list[str] = []
    for item in items:
        if item not in BUILTIN_DATASETS and any(c in item for c in "*?["):
            matches = sorted(glob.glob(item))
            if not matches:
                raise ValueError(f"dataset pattern {item!r} matched no files: check the path")
            sources.extend(matches)
        elif item in BUILTIN_DATASETS or Path(item).is_file():
            sources.append(item)
        else:
            raise ValueError(f"unknown dataset {item!r}: use a built-in ({', '.join(sorted(BUILTIN_DATASETS))}) "
                             "or a statement,label CSV/JSONL path")
    if len(set(sources)) != len(sources):
        raise ValueError(f"a dataset is listed twice in {spec!r}: list each once")
    stems = [s if s in BUILTIN_DATASETS else Path(s).stem for s in sources]
    names = [stem if stems.count(stem) == 1 or s in BUILTIN_DATASETS else f"{Path(s).parent.name}/{stem}"
             for s, stem in zip(sources, stems)]
    if len(set(names)) != len(names):
        raise ValueError(f"datasets {names} have clashing names: rename a file")
    return list(zip(names, sources))


def transfer_matrix(
    acts: dict[str, Float[Tensor, "n d_model"]],
    data: dict[str, StatementDataset],
    probes: dict[str, Callable[[], BaseProbe]] = PROBES,
    train_fraction: float = 0.7,
    seed: int = 0,
) -> tuple[list[dict], dict[str, dict[str, BaseProbe]]]:
    """Fit every probe on every dataset's training split and score it on every test split.

    Args:
        acts: Dataset name to activations at one layer, rows aligned with ``data[name]``.
        data: Dataset name to its statements and labels.
        probes: Probe name to a factory of an unfitted probe.
        train_fraction: Share of each dataset used for training.
        seed: Seed of the splits.

    Returns:
        ``(rows, fitted)``: one row per (probe, train, test) with ``accuracy``, ``auroc`` (NaN
        when a test split has one class) and ``n_test``; and ``fitted[probe][train]`` (provenance
        records ``dataset``, ``n_train`` and ``split_seed``).

    Example:
        >>> rows, fitted = transfer_matrix({"a": xa, "b": xb}, {"a": da, "b": db})  # doctest: +SKIP
    """
    splits = grouped_splits(entity_groups(data), round(1 - train_fraction, 6), seed)
    for name, (train, _) in splits.items():
        if len(np.unique(data[name].labels)) < 2:
            raise ValueError(f"{name} holds one label only: a probe needs true and false statements; pass a dataset "
                             "with both")
        if len(np.unique(data[name].labels[train])) < 2:
            raise ValueError(f"the training side of {name} holds one label only: use more statements or another --seed")
    rows, fitted = [], {p: {} for p in probes}
    for probe_name, factory in probes.items():
        for source, (train, _) in splits.items():
            probe = factory().fit(acts[source][train], data[source].labels[train])
            probe.set_provenance(dataset=source, n_train=int(len(train)), split_seed=seed)
            fitted[probe_name][source] = probe
            seen = {data[source].statements[i] for i in train}
            for target, (_, test) in splits.items():
                keep = np.array([i for i in test if data[target].statements[i] not in seen], dtype=np.int64)
                labels = data[target].labels[keep]
                probs = probe.predict_true(acts[target][keep]) if len(keep) else np.empty(0)
                both = len(set(labels.tolist())) == 2
                rows.append({
                    "probe": probe_name, "train": source, "test": target, "n_test": int(len(keep)),
                    "accuracy": float(np.mean((probs > 0.5) == labels)) if len(keep) else float("nan"),
                    "auroc": auroc(probs, labels) if both else float("nan"),
                })
    return rows, fitted


def entity_groups(data: dict[str, StatementDataset]) -> dict[str, np.ndarray]:
    """Each dataset's group ids (its entity column; rows of a dataset without one are its own, by name)."""
    out = {}
    for name, d in data.items():
        ids = d.groups()
        out[name] = np.array([f"{name}/{i}" for i in ids]) if d.group_column() == "row" else ids
    return out


def matrices(rows: list[dict], names: list[str]) -> dict[str, dict[str, list[list[float]]]]:
    """``{probe: {metric: [[value of train i, test j]]}}`` from the rows of :func:`transfer_matrix`."""
    index = {name: i for i, name in enumerate(names)}
    out: dict[str, dict[str, list[list[float]]]] = {}
    for row in rows:
        per_probe = out.setdefault(row["probe"], {m: [[float("nan")] * len(names) for _ in names] for m in METRICS})
        for metric in METRICS:
            per_probe[metric][index[row["train"]]][index[row["test"]]] = row[metric]
    return out


def summary(mats: dict[str, dict[str, list[list[float]]]]) -> list[dict]:
    """Mean held-out (diagonal) and transfer (off-diagonal) accuracy and AUROC per probe."""
    rows = []
    for probe, per_metric in mats.items():
        row = {"probe": probe}
        for metric, matrix in per_metric.items():
            m = np.array(matrix, dtype=float)
            off = ~np.eye(len(m), dtype=bool)
            row[f"{metric} (same dataset)"] = float(np.nanmean(np.diag(m)))
            row[f"{metric} (transfer)"] = float(np.nanmean(m[off]))
        rows.append(row)
    return rows


def transfer_figure(mats: dict[str, dict[str, list[list[float]]]], names: list[str], metric: str,
                    title: str | None = None) -> go.Figure:
    """Side-by-side heatmaps (one per probe) of ``metric``: rows = trained on, columns = tested on.

    Args:
        mats: From :func:`matrices`.
        names: Dataset names, in matrix order.
        metric: ``"accuracy"`` or ``"auroc"``.
        title: Figure title.

    Returns:
        A plotly figure; 0.5 (chance) is white, blue is better, red is worse than chance.
    """
    probes = list(mats)
    fig = make_subplots(rows=1, cols=len(probes), subplot_titles=probes, shared_yaxes=True, horizontal_spacing=0.04)
    for col, probe in enumerate(probes, start=1):
        z = np.array(mats[probe][metric], dtype=float)
        fig.add_trace(go.Heatmap(
            z=z, x=names, y=names, zmin=0, zmax=1, zmid=0.5, colorscale="RdBu", showscale=col == len(probes),
            texttemplate="%{z:.2f}", colorbar={"title": metric},
            hovertemplate="trained on %{y}<br>tested on %{x}<br>" + metric + " %{z:.3f}<extra></extra>"),
            row=1, col=col)
        fig.update_xaxes(title_text="tested on", tickangle=-35, row=1, col=col)
        fig.update_yaxes(title_text="trained on" if col == 1 else None, autorange="reversed", row=1, col=col)
    fig.update_layout(title=title or f"Cross-dataset {metric}", height=260 + 45 * len(names), margin={"b": 120})
    return fig


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


def run(config: TransferConfig, model=None) -> Results:
    """Run the study described by ``config``; write results.json, report.html and the probes."""
    out = Path(config.out)
    model = model or config.load_model()
    (layer,) = resolve_layers([config.layer], model.n_layers, model.model_id)
    named = resolve_datasets(config.datasets)
    data = {name: load_statements(source).sample(config.n, seed=config.seed) for name, source in named}
    acts = {}
    for name, d in data.items():
        logger.info("extracting %s (%d statements) at layer %d", name, len(d), layer)
        acts[name] = extract(model, d.statements, layers=[layer], cache=config.activation_cache)[:, 0]
    rows, fitted = transfer_matrix(acts, data, PROBES, config.train_fraction, config.seed)
    names = [name for name, _ in named]
    for probe_name, per_dataset in fitted.items():
        for name, probe in per_dataset.items():
            probe.set_provenance(model_id=model.model_id, layer=layer, site=SITE, layer_convention=LAYER_CONVENTION,
                                 dataset_source=dict(named)[name])
            probe.save(out / "probes" / f"{_safe(name)}__{probe_name}")
    mats = matrices(rows, names)
    means = summary(mats)
    headline = {f"{metric}_{row['probe']}_{where}": {"value": row[f"{metric} ({label})"], "ci": None}
                for row in means for metric in ("accuracy", "auroc")
                for where, label in (("same_dataset", "same dataset"), ("transfer", "transfer"))}
    result = study_results(
        "transfer", model, config, headline, tables={"results": rows, "summary": means},
        model_id=model.model_id, layer=layer, site=SITE, layer_convention=LAYER_CONVENTION,
        datasets=[{"name": n, "source": s, "n": len(data[n])} for n, s in named],
        probes={"logistic": "LogisticProbe(C=0.1), standardised with training-split statistics",
                "mass_mean": "MassMeanProbe(), raw activations, LDA posterior from the training split"},
        matrices=mats)
    _log_matrices(result)
    result.write(out)
    write_report(out / "report.html", f"Truth-probe transfer across datasets: {model.model_id}, layer {layer}", [
        f"<p>Each probe is fitted on a dataset's training split ({config.train_fraction:.0%}) and scored on every "
        f"dataset's test split; rows = trained on, columns = tested on. Last-token residual stream after block "
        f"{layer}; up to {config.n} statements per dataset, seed {config.seed}.</p>",
        transfer_figure(mats, names, "accuracy", f"Accuracy, trained on row, tested on column (layer {layer})"),
        transfer_figure(mats, names, "auroc", f"AUROC, trained on row, tested on column (layer {layer})"),
        table_html(means, caption="Mean over the diagonal (same dataset) and off the diagonal (transfer)"),
        table_html(result["datasets"], caption="Datasets"),
    ])
    return result


def _log_matrices(result: Results) -> None:
    """Each probe's accuracy matrix (trained on row, tested on column), as text."""
    names = [d["name"] for d in result["datasets"]]
    width = max(len(n) for n in names)
    for probe, per_metric in result["matrices"].items():
        lines = [f"{probe}: accuracy, trained on row, tested on column (layer {result['layer']})",
                 " " * width + "  " + "  ".join(f"{i:>5}" for i in range(len(names)))]
        lines += [f"{name:>{width}}  " + "  ".join(f"{v:5.2f}" for v in row) + f"   [{i}]"
                  for i, (name, row) in enumerate(zip(names, per_metric["accuracy"]))]
        logger.info("\n".join(lines))


def main(argv=None, model=None) -> Results:
    """Command-line entry: ``python -m veracity.experiments.truth.transfer --help``."""
    return study_main(TransferConfig, run, argv, model=model)


if __name__ == "__main__":
    main()
