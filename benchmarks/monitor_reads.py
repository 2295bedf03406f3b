"""What `remembered_reads` saves a lie-detection study: the same run with each dialogue read once, and read afresh
by every monitor call.

    python -m benchmarks.monitor_reads [--n 40] [--repeats 1]

Runs `veracity run lie_detection` on the embedded SmolLM2 at the acceptance test's size (every recipe, few-shot
pressure, 20 controls, one layer) twice per round: as shipped (`remembered_reads` around the study) and with every
`answer_activations` call going through the model again. Prints a table of best-of-N seconds and
the largest difference between the two runs' headline figures (the reads are the same activations, in
other batches).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from benchmarks.timing import fix_threads, interleaved
from veracity.experiments.cli import study_main
from veracity.experiments.deception import lie_detection
from veracity.hooks import load_model


def figures(out: Path) -> dict[str, float]:
    headline = json.loads((out / "results.json").read_text())["headline"]
    return {name: entry["value"] for name, entry in headline.items() if isinstance(entry, dict) and "value" in entry}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    fix_threads(args.threads)
    model = load_model("smollm2-135m", device="cpu")
    work = Path(tempfile.mkdtemp(prefix="monitor_reads_"))
    argv = ["--n", str(args.n), "--test-fraction", "0.5", "--pressures", "few_shot", "--n-control", "20", "--unseen",
            "none", "--layers", "15", "--follow-ups", "1"]

    def once(name: str, remember: bool):
        run = lie_detection.run if remember else lie_detection.run.__wrapped__
        study_main(lie_detection.Config, run, [*argv, "--out", str(work / name)], model=model)
        return figures(work / name)

    best, outputs = interleaved({"remembered_reads (shipped)": lambda: once("remembered", True),
                                 "every read afresh": lambda: once("afresh", False)}, repeats=args.repeats)
    print(f"lie_detection --n {args.n}, SmolLM2-135M-Instruct (Q4_1 GGUF dequantised to float32), CPU, "
          f"{args.threads} thread(s), best of {args.repeats}")
    print(f"{'reads':<28} {'seconds':>8}")
    for name, seconds in best.items():
        print(f"{name:<28} {seconds:>8.1f}")
    mine, theirs = outputs.values()
    shared = sorted(set(mine) & set(theirs))
    print(f"largest difference over {len(shared)} headline figures: "
          f"{max(abs(mine[k] - theirs[k]) for k in shared):.2e}")


if __name__ == "__main__":
    main()
