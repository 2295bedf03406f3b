"""The headline demo: where does SmolLM2-135M-Instruct represent truth?

``make demo`` runs this: it loads the embedded model (offline), extracts the residual stream of
every layer for the built-in true/false city statements (cached under ``artifacts/cache``), fits
a logistic truth probe per layer on a training split and prints held-out accuracy by layer.
Results go to ``artifacts/demo/layers.json``.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np

from hooks import LAYER_CONVENTION, extract, load_model
from hooks.convention import veracity_home
from hooks.data import load_statements
from probes import LogisticProbe


def split(n: int, seed: int, train_fraction: float = 0.7) -> tuple[np.ndarray, np.ndarray]:
    """A seeded random train/test split of ``range(n)``."""
    order = np.random.default_rng(seed).permutation(n)
    cut = int(train_fraction * n)
    return order[:cut], order[cut:]


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description="Truth probe accuracy by layer on the embedded model.")
    parser.add_argument("--model", default="smollm2-135m", help="model name or folder (default: the embedded SmolLM2-135M-Instruct)")
    parser.add_argument("--dataset", default="cities", help="built-in dataset name or statement,label CSV (default: cities)")
    parser.add_argument("--n", type=int, default=800, help="statements to use (default 800)")
    parser.add_argument("--device", default=None, help="cpu / cuda (default: cuda when present)")
    parser.add_argument("--seed", type=int, default=0, help="seed for the sample and the split (default 0)")
    parser.add_argument("--out", default=None, help="output folder (default artifacts/demo)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("probes").setLevel(logging.WARNING)
    out = Path(args.out) if args.out else veracity_home() / "demo"
    out.mkdir(parents=True, exist_ok=True)

    model = load_model(args.model, device=args.device)
    data = load_statements(args.dataset).sample(args.n, seed=args.seed)
    acts = extract(model, data.statements, layers="all", cache=True)
    train, test = split(len(data), args.seed)
    rows = []
    for layer in range(model.n_layers):
        probe = LogisticProbe(C=0.1).fit(acts[train, layer], data.labels[train])
        rows.append({"layer": layer, "probe": "logistic", "accuracy": float(probe.score(acts[test, layer], data.labels[test]))})
    (out / "layers.json").write_text(json.dumps({"model": model.model_id, "dataset": data.name, "n": len(data),
                                                 "layer_convention": LAYER_CONVENTION, "results": rows}, indent=2))
    print(f"\n{model.model_id}: held-out accuracy of a logistic truth probe, {data.name} (n={len(data)}, 70/30 split)")
    print("layer  accuracy")
    best = max(rows, key=lambda r: r["accuracy"])
    for row in rows:
        bar = "#" * int(round((row["accuracy"] - 0.5) * 60)) if row["accuracy"] > 0.5 else ""
        print(f"{row['layer']:>5}  {row['accuracy']:.3f}  {bar}")
    print(f"\nbest layer {best['layer']}: {best['accuracy']:.3f}.  Results: {out / 'layers.json'}")
    return rows


if __name__ == "__main__":
    main()
