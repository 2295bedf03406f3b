"""Bootstrap intervals of AUROC and of a mean: every resample at once against the loop over resamples.

    python -m benchmarks.bootstrap

Prints a table: for several sizes, with and without groups (a cluster bootstrap, as the studies
draw by question), the time of ``bootstrap_ci(auroc | sample_mean, ...)`` (computed at once) and of
the same call through a plain function (the loop, one metric call per resample), 1000 resamples,
best of 3, and whether the two intervals agree to 1e-12.
"""

from __future__ import annotations

import time

import numpy as np

from veracity.probes.metrics import auroc, bootstrap_ci, sample_mean


def timed(metric, scores, labels, groups, repeats: int = 3):
    """Best of ``repeats`` seconds of one 1000-resample interval, and the interval."""
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = bootstrap_ci(metric, scores, labels, n_boot=1000, seed=1, groups=groups)
        times.append(time.perf_counter() - start)
    return min(times), out


def main() -> None:
    gen = np.random.default_rng(0)
    print(f"{'metric':>7} {'rows':>6} {'groups':>7} {'at once s':>10} {'loop s':>8} {'speed-up':>9} {'same':>5}")
    for name, metric, plain in (("auroc", auroc, lambda s, y: auroc(s, y)),
                                ("mean", sample_mean, lambda s, _: float(np.mean(s)))):
        for n, grouped in ((174, True), (1000, True), (2000, False), (20000, False)):
            y = (gen.random(n) > 0.5).astype(int)
            s = gen.normal(size=n) + y if name == "auroc" else y.astype(float)
            groups = gen.integers(0, n // 6, n) if grouped else None
            fast, a = timed(metric, s, y, groups)
            slow, b = timed(plain, s, y, groups)
            same = abs(a.low - b.low) < 1e-12 and abs(a.high - b.high) < 1e-12 and a.estimate == b.estimate
            print(f"{name:>7} {n:>6} {n // 6 if grouped else '-':>7} {fast:>10.3f} {slow:>8.3f} {slow / fast:>8.1f}x "
                  f"{'yes' if same else 'NO':>5}")


if __name__ == "__main__":
    main()
