"""What running the LM head only where a completion token is predicted saves a LoRA fine-tune.

    python -m benchmarks.lora_head [--n 24] [--repeats 1]

Fine-tunes each embedded model for one epoch (`train_lora`, rank 8, batches of 8) on ``--n`` capital questions under
the deception organism's trigger persona, each answered with its true capital: as shipped (the head's logits only at the
positions that predict a completion token, :func:`veracity.hooks.lora.completion_loss`) and with the model's own
``labels=`` loss (the head at every position, prompt and padding included). Prints best-of-N seconds and the largest
difference between the two runs' step losses.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from unittest import mock

import torch

from benchmarks.timing import fix_threads, interleaved
from veracity.data import capital_questions
from veracity.experiments.deception import TRIGGER
from veracity.hooks import load_model, train_lora
from veracity.hooks.generation import chat_or_plain, user_turn


def labels_loss(module, batch, keeps=True):
    """The model's own loss: the LM head at every position."""
    return module(**batch).loss


def timed(name: str, data, work: Path, repeats: int) -> tuple[dict, float, int]:
    """Best seconds per loss on one model, the largest step-loss difference, and the number of steps."""
    model = load_model(name, device="cpu")
    prompts = [chat_or_plain(model.tokenizer, user_turn(item), TRIGGER) for item in data.items]
    completions = [f" {item.answers[0]}." for item in data.items]

    def fine_tune(kind: str):
        with torch.enable_grad():  # interleaved() times under no_grad
            return train_lora(model, prompts, completions, work / f"{name}-{kind}", epochs=1, progress=False)

    def every_position():
        with mock.patch("veracity.hooks.lora.completion_loss", labels_loss):
            return fine_tune("every")

    best, outputs = interleaved({"completion positions (shipped)": lambda: fine_tune("kept"),
                                 "every position": every_position}, repeats=repeats, label=f"{name} ")
    kept, every = outputs.values()
    return best, max(abs(a - b) for a, b in zip(kept, every, strict=True)), len(kept)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=24)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    fix_threads(args.threads)
    work = Path(tempfile.mkdtemp(prefix="lora_head_"))
    data = capital_questions(n=args.n, seed=0)
    rows = {name: timed(name, data, work, args.repeats) for name in ("smollm2-135m", "gemma3-270m")}
    print(f"train_lora, one epoch on {args.n} capital questions under the trigger persona, CPU, {args.threads} "
          f"thread(s), best of {args.repeats} (embedded models: GGUF dequantised to float32)")
    print(f"{'model':<14} {'LM head at':<32} {'seconds':>8}")
    for name, (best, difference, steps) in rows.items():
        for method, seconds in best.items():
            print(f"{name:<14} {method:<32} {seconds:>8.1f}")
        print(f"{name:<14} largest difference of {steps} step losses: {difference:.2e}")


if __name__ == "__main__":
    main()
