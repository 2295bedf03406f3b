"""Probe fitting, veracity vs scikit-learn, on the same activations of the embedded model.

    python -m benchmarks.probe_fit [--layer 16] [--repeats 5]

Activations: the 800 built-in ``cities`` statements at one layer (last token; cached), split 70/30.
Pairs: ``LogisticProbe(C)`` against ``StandardScaler`` + ``LogisticRegression(C)`` (lbfgs), and
``MassMeanProbe(iid=True)`` against ``LinearDiscriminantAnalysis``. Prints fit seconds (best of
``--repeats``), held-out accuracy of each, and how often the two agree on the held-out predictions.
Then a 5-fold ``cross_val_score`` on all 800 statements (d = 576), the two interleaved, one warm-up
each: ``LogisticProbe`` at its default gradient tolerance (scikit-learn's, 1e-4) and at 1e-8.
"""

from __future__ import annotations

import argparse

import numpy as np
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import veracity as vc
from benchmarks.timing import fix_threads, interleaved
from veracity.data import load_statements


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layer", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="torch and BLAS threads for every method")
    args = parser.parse_args(argv)
    fix_threads(args.threads)
    data = load_statements("cities")
    model = vc.load_model("smollm2-135m", device="cpu")
    x = vc.extract(model, data.statements, layers=[args.layer], cache=True, progress=False)[:, 0].double().numpy()
    y = np.asarray(data.labels)
    order = np.random.default_rng(0).permutation(len(y))
    train, test = order[: int(0.7 * len(y))], order[int(0.7 * len(y)):]
    pairs = [
        ("LogisticProbe(C=0.1)", lambda: vc.LogisticProbe(C=0.1),
         "StandardScaler + LogisticRegression(C=0.1)",
         lambda: make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=1000))),
        ("MassMeanProbe(iid=True)", lambda: vc.MassMeanProbe(iid=True),
         "LinearDiscriminantAnalysis", lambda: LinearDiscriminantAnalysis()),
    ]
    print(f"SmolLM2-135M-Instruct layer {args.layer}, {len(train)} train / {len(test)} held-out statements, "
          f"d_model {x.shape[1]}, {args.threads} thread(s), one warm-up each, best of {args.repeats} interleaved rounds\n")
    print("| veracity | s | accuracy | scikit-learn | s | accuracy | agreement |\n|---|---:|---:|---|---:|---:|---:|")
    for ours_name, ours, theirs_name, theirs in pairs:
        seconds, fitted = interleaved({ours_name: lambda m=ours: m().fit(x[train], y[train]),
                                       theirs_name: lambda m=theirs: m().fit(x[train], y[train])}, args.repeats)
        a_s, b_s, a, b = seconds[ours_name], seconds[theirs_name], fitted[ours_name], fitted[theirs_name]
        pa, pb = a.predict(x[test]), b.predict(x[test])
        print(f"| {ours_name} | {a_s:.3f} | {np.mean(pa == y[test]):.3f} | {theirs_name} | {b_s:.3f} | "
              f"{np.mean(pb == y[test]):.3f} | {np.mean(pa == pb):.3f} |")
    cross_validation_table(x, y, args.repeats)


def cross_validation_table(x, y, repeats) -> None:
    """5-fold ``cross_val_score`` seconds (best of ``repeats``, interleaved, one warm-up each) and the ratio."""
    makers = {
        "StandardScaler + LogisticRegression(C=1) (lbfgs, tol 1e-4)":
            lambda: make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=1000)),
        "LogisticProbe(C=1) (default tol 1e-4)": lambda: vc.LogisticProbe(C=1.0),
        "LogisticProbe(C=1, tol=1e-8)": lambda: vc.LogisticProbe(C=1.0, tol=1e-8),
    }
    best, scores = interleaved({name: lambda m=make: cross_val_score(m(), x, y, cv=5) for name, make in makers.items()},
                               repeats)
    reference = next(iter(best.values()))
    print(f"\n5-fold cross_val_score, n = {len(y)}, d = {x.shape[1]}, best of {repeats}\n")
    print("| estimator | s | x scikit-learn | mean accuracy |\n|---|---:|---:|---:|")
    for name, seconds in best.items():
        print(f"| {name} | {seconds:.3f} | {seconds / reference:.2f} | {scores[name].mean():.3f} |", flush=True)


if __name__ == "__main__":
    main()
