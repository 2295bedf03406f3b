"""Fitting probes on a cache larger than the memory a process may use.

    python -m benchmarks.out_of_core [--gb 6] [--limit-gb 2] [--folder DIR]

Writes a synthetic activation cache of about ``--gb`` GB in veracity's own chunk format (30 layers
x d_model 576 float32, like the embedded model; Gaussian rows with a planted truth direction at
layer 20, so the probes have something to find), then fits ``LogisticProbe`` and ``MassMeanProbe``
from ``load_activations(DIR, mmap=True).layer(20)`` in a child process whose anonymous memory is
capped at ``--limit-gb`` (``RLIMIT_DATA``: the heap cannot grow past it; the memory-mapped cache
pages do not count). Prints the cache size, each fit's time, the child's peak RSS and the held-out
accuracy. The synthetic data stands in for extracted activations only for size: extracting
90,000 texts on this CPU would take about 45 minutes.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

N_LAYERS, D_MODEL, LAYER, CHUNK = 30, 576, 20, 1024


def write_cache(folder: Path, n_texts: int) -> None:
    from veracity.hooks.cache import ActivationCache

    description = {"model_id": "synthetic", "n_texts": n_texts, "layers": list(range(N_LAYERS)), "position": "last",
                   "dtype": "torch.float32", "d_model": D_MODEL, "texts_sha256": f"synthetic-{n_texts}"}
    store = ActivationCache(folder.parent, description, CHUNK, folder=folder)
    store.write_description()
    gen = torch.Generator().manual_seed(0)
    truth = torch.randn(D_MODEL, generator=gen)
    truth /= truth.norm()
    for index in range(-(-n_texts // CHUNK)):
        if store.chunk_path(index).is_file():
            continue
        rows = min(CHUNK, n_texts - index * CHUNK)
        acts = torch.randn(rows, N_LAYERS, D_MODEL, generator=gen)
        labels = torch.arange(index * CHUNK, index * CHUNK + rows) % 2
        acts[:, LAYER] += (2 * labels[:, None] - 1) * 0.15 * truth  # a weak planted signal
        store.save_chunk(index, acts)


def child(folder: str, limit_gb: float) -> None:
    cap = int(limit_gb * 2**30)
    resource.setrlimit(resource.RLIMIT_DATA, (cap, cap))
    from veracity.hooks import load_activations
    from veracity.probes import LogisticProbe, MassMeanProbe

    view = load_activations(folder, mmap=True).layer(LAYER)
    labels = np.arange(len(view)) % 2
    results = {"rows": len(view)}
    test = view[np.arange(len(view) - 4096, len(view))]
    for name, make in (("LogisticProbe", lambda: LogisticProbe(C=0.1, max_iter=100)), ("MassMeanProbe", MassMeanProbe)):
        start = time.perf_counter()
        probe = make().fit(view, labels)
        results[name] = {"seconds": round(time.perf_counter() - start, 1),
                         "accuracy_last_4096": float(probe.score(test, labels[-4096:]))}
    results["peak_rss_gb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)
    try:  # the in-memory way, for contrast: every layer of every row at once
        load_activations(folder)
        results["in_memory"] = "fitted in memory"
    except MemoryError:
        results["in_memory"] = "MemoryError"
    print(json.dumps(results))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gb", type=float, default=6.0)
    parser.add_argument("--limit-gb", type=float, default=2.0)
    parser.add_argument("--folder", default="artifacts/bench/out_of_core")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.folder, args.limit_gb)
    folder = Path(args.folder)
    n_texts = int(args.gb * 2**30 / (N_LAYERS * D_MODEL * 4))
    start = time.perf_counter()
    write_cache(folder, n_texts)
    size = sum(p.stat().st_size for p in folder.glob("chunk_*.safetensors")) / 2**30
    print(f"cache: {n_texts} rows x {N_LAYERS} layers x {D_MODEL} float32 = {size:.2f} GiB on disk "
          f"({time.perf_counter() - start:.0f} s to write or check)")
    run = subprocess.run([sys.executable, "-m", "benchmarks.out_of_core", "--child", "--folder", str(folder),
                          "--limit-gb", str(args.limit_gb)], capture_output=True, text=True)
    if run.returncode != 0:
        sys.exit(f"the capped child failed: {run.stderr.strip().splitlines()[-1] if run.stderr else run.returncode}")
    result = json.loads(run.stdout.strip().splitlines()[-1])
    print(f"child capped at {args.limit_gb} GiB of anonymous memory (RLIMIT_DATA); peak RSS "
          f"{result['peak_rss_gb']} GiB; fitting one layer ({result['rows']} rows x {D_MODEL}) from the view:")
    print(f"{'probe':>14} {'fit (s)':>8} {'accuracy, last 4096 (training) rows':>36}")
    for name in ("LogisticProbe", "MassMeanProbe"):
        print(f"{name:>14} {result[name]['seconds']:>8} {result[name]['accuracy_last_4096']:>36.3f}")
    print(f"the same child loading the whole cache into memory (load_activations(DIR)): {result['in_memory']}")


if __name__ == "__main__":
    main()
