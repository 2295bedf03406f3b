"""Compile the virtual environment's bytecode on every core, as pip would have on one (``make setup`` runs it).

    python .ci/bytecode.py [--jobs N] [PACKAGE ...]

Compiles the ``.py`` files of the given packages in site-packages (all of site-packages when none is given), skipping
those whose bytecode is already up to date, the packages' own tests and the transformers model families that neither
the test suite nor the embedded models load (each compiles, as usual, when first imported). Each worker takes its
share of the files at once (``compileall -j`` hands its workers one file at a time, and on 19,000 files that costs
seconds). A file that does not compile is skipped, as pip skips it.
"""

from __future__ import annotations

import argparse
import compileall
import os
import re
import sysconfig
from concurrent.futures import ProcessPoolExecutor

SKIP = re.compile(r"/tests?/|/transformers/models/(?!(auto|llama|gemma|gemma2|gemma3|gpt2|gpt_neox|mistral|qwen2|qwen3|"
                  r"phi3|olmo2|bloom|biogpt|encoder_decoder|diffusion_gemma)/)[^/]+/")
"""Paths not compiled here: tests, and model families the suite and the embedded models never import."""


def sources(roots: list[str]) -> list[str]:
    """Every ``.py`` file under the roots that :data:`SKIP` does not match, in a stable order."""
    found = []
    for root in roots:
        if os.path.isfile(root):
            found.append(root)
            continue
        for folder, dirs, files in os.walk(root):
            dirs.sort()
            found.extend(os.path.join(folder, f) for f in sorted(files)
                         if f.endswith(".py") and not SKIP.search(os.path.join(folder, f)))
    return found


def compile_files(paths: list[str]) -> int:
    """Compile each file whose bytecode is missing or stale; the number that did not compile."""
    return sum(not compileall.compile_file(p, quiet=2) for p in paths)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("packages", nargs="*", help="folders in site-packages (default: all of site-packages)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="worker processes (default: every core)")
    args = parser.parse_args(argv)
    site = sysconfig.get_paths()["purelib"]
    paths = sources([os.path.join(site, p) for p in args.packages] or [site])
    jobs = max(1, min(args.jobs, len(paths)))
    shares = [paths[i::jobs] for i in range(jobs)]
    if jobs == 1:
        compile_files(paths)
        return
    with ProcessPoolExecutor(jobs) as pool:
        list(pool.map(compile_files, shares))


if __name__ == "__main__":
    main()
