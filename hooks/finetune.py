"""Full fine-tuning: every weight of a copy of the model, saved as ordinary model folders.

The counterpart of :func:`veracity.hooks.train_lora` for studies that need the whole model to move
(continued pre-training). The model passed in is left unchanged: a copy is trained. Each saved
folder (the final model and every ``epoch_<e>`` checkpoint) is a Hugging Face safetensors model
with its tokenizer, loaded with ``load_model(FOLDER)``; every file is written atomically, so an
interrupted save never leaves a half-written file.
"""

from __future__ import annotations

import copy
import logging
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

import torch

from veracity.atomic import atomic_write
from veracity.hooks.lora import _check_examples, _tokenize, fit_causal_lm
from veracity.hooks.model import VeracityModel

__all__ = ["train_full"]

logger = logging.getLogger(__name__)


def train_full(
    model: VeracityModel,
    prompts: Sequence[str],
    completions: Sequence[str],
    out: str | os.PathLike,
    epochs: int = 3,
    lr: float = 1e-5,
    batch_size: int = 8,
    seed: int = 0,
    save_epochs: Sequence[int] = (),
    progress: bool = True,
) -> list[float]:
    """Fine-tune all weights of a copy of ``model`` so it continues each prompt with its completion.

    Args:
        model: A loaded model (its Hugging Face module is copied; the original is untouched).
        prompts: Prompt strings ("" for plain language modelling of the completion).
        completions: What should follow each prompt (the loss is on these tokens only).
        out: The folder the final model is written to.
        epochs: Passes over the examples, each in a fresh seeded order.
        lr: AdamW learning rate (weight decay 0).
        batch_size: Examples per optimiser step.
        seed: Seeds the data order.
        save_epochs: Also save the model after these epochs (1-based), as ``out/epoch_<e>`` folders.
        progress: Show a progress bar.

    Returns:
        The training loss of every step.

    Raises:
        ValueError: As :func:`veracity.hooks.train_lora`.

    Example:
        >>> losses = train_full(model, [""] * len(texts), texts, "artifacts/full", epochs=2, save_epochs=(1,))
        >>> tuned = load_model("artifacts/full/epoch_1")  # doctest: +SKIP
    """
    _check_examples(prompts, completions, save_epochs, epochs=epochs, batch_size=batch_size, lr=lr)
    examples = _tokenize(model.tokenizer, prompts, completions)
    torch.manual_seed(seed)
    trained = copy.deepcopy(model.hf_model)
    for param in trained.parameters():
        param.requires_grad_(True)

    def checkpoint(epoch: int) -> None:
        if epoch in save_epochs:
            save_model_folder(trained, model.tokenizer, Path(out) / f"epoch_{epoch}")

    losses = fit_causal_lm(trained, list(trained.parameters()), examples, model.tokenizer.pad_token_id, model.device,
                           epochs, lr, batch_size, seed, progress, "full", checkpoint)
    save_model_folder(trained, model.tokenizer, Path(out))
    logger.info("full fine-tune: %d steps, loss %.3f -> %.3f; model in %s", len(losses), losses[0], losses[-1], out)
    return losses


def save_model_folder(hf_model, tokenizer, folder: Path) -> Path:
    """``save_pretrained`` (safetensors) and the tokenizer into ``folder``, each file written atomically.

    Everything is first saved into a staging folder beside ``folder``; each file is then copied into
    place through :func:`veracity.atomic.atomic_write`. Checkpoint folders already inside ``folder`` are kept.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    staging = folder.with_name(f".{folder.name}.partial-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        hf_model.save_pretrained(staging, safe_serialization=True)
        tokenizer.save_pretrained(staging)
        for item in sorted(staging.iterdir()):
            atomic_write(folder / item.name, lambda tmp, source=item: shutil.copyfile(source, tmp))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder
