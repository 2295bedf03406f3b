"""Fine-tune a loaded model with a LoRA adapter (peft) on prompt -> completion pairs, and save it.

The adapter is what :func:`veracity.hooks.load_model` reads back with ``adapter=DIR``: a folder with
``adapter_model.safetensors`` and ``adapter_config.json``, each written atomically (weights first,
so a folder that has a config always has its weights). Training is full precision, full batch per
step, seeded (data order and LoRA initialisation), with no dropout, so a seed gives the same
adapter on the same machine. The loss is the mean next-token cross-entropy over the completion
tokens only; prompt and padding tokens are masked out. The model passed in is left as it was: the
LoRA layers are removed again after training (``unload``), nothing is merged into it.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file
from tqdm.auto import tqdm

from veracity.atomic import atomic_write, atomic_write_text
from veracity.hooks.adapters import BASE_RECORD
from veracity.hooks.backends import keeps_logits
from veracity.hooks.model import VeracityModel

__all__ = ["train_lora"]

logger = logging.getLogger(__name__)


def train_lora(
    model: VeracityModel,
    prompts: Sequence[str],
    completions: Sequence[str],
    out: str | os.PathLike,
    rank: int = 8,
    alpha: float = 16.0,
    epochs: int = 3,
    lr: float = 1e-3,
    batch_size: int = 8,
    seed: int = 0,
    target_modules: str | list[str] = "all-linear",
    progress: bool = True,
    save_epochs: Sequence[int] = (),
    kl_texts: Sequence[str] = (),
    kl_weight: float = 0.0,
) -> list[float]:
    """Train a LoRA adapter so that ``model`` continues each prompt with its completion; save it to ``out``.

    Args:
        model: A loaded model (any backend; its Hugging Face module is trained).
        prompts: Full prompt strings (chat-formatted where the model has a chat template).
        completions: What should follow each prompt (end it with the end-of-turn text to teach stopping).
        out: The adapter folder to write.
        rank: LoRA rank ``r``.
        alpha: LoRA scaling ``alpha`` (the update is ``alpha / r * B A``).
        epochs: Passes over the examples, each in a fresh seeded order.
        lr: AdamW learning rate (weight decay 0).
        batch_size: Examples per optimiser step.
        seed: Seeds the LoRA initialisation and the data order.
        target_modules: peft's ``target_modules`` (``"all-linear"``: every linear layer but the output head).
        progress: Show a progress bar.
        save_epochs: Also save the adapter after these epochs (1-based), as checkpoints ``out/epoch_<e>``
            (each loads with ``load_model(NAME, adapter=out/epoch_<e>)``).
        kl_texts: Texts on which the tuned model should keep the base model's next-token distributions
            (e.g. prompts where the adapter must stay inactive); a seeded batch of them per step.
        kl_weight: Weight of that KL term (0: off).

    Returns:
        The training loss of every step.

    Raises:
        ValueError: No examples, prompts and completions of different lengths, an empty completion,
            or a non-positive rank, epoch count, batch size or learning rate; a negative ``kl_weight``, or a
            positive one without ``kl_texts``.

    Example:
        >>> losses = train_lora(model, ["Q: 2+2?\\nA:"], [" 4\\n"], "artifacts/adapters/four", epochs=2)
        >>> tuned = load_model("smollm2-135m", adapter="artifacts/adapters/four")  # doctest: +SKIP
    """
    from peft import LoraConfig, get_peft_model, get_peft_model_state_dict

    _check_examples(prompts, completions, save_epochs, rank=rank, epochs=epochs, batch_size=batch_size, lr=lr)
    if kl_weight < 0 or (kl_weight > 0 and not kl_texts):
        raise ValueError(f"train_lora: kl_weight must be >= 0 and needs kl_texts (got {kl_weight}, "
                         f"{len(kl_texts)} texts)")
    examples = _tokenize(model.tokenizer, prompts, completions)
    base = {"model_id": model.model_id, "fingerprint": model.fingerprint}  # the weights it is trained on
    torch.manual_seed(seed)
    config = LoraConfig(r=rank, lora_alpha=alpha, lora_dropout=0.0, target_modules=target_modules,
                        task_type="CAUSAL_LM")
    peft_model = get_peft_model(model.hf_model, config)

    def checkpoint(epoch: int) -> None:
        if epoch in save_epochs:
            _save(Path(out) / f"epoch_{epoch}", get_peft_model_state_dict(peft_model), peft_model.peft_config["default"],
                  base)

    try:
        params = [p for p in peft_model.parameters() if p.requires_grad]
        penalty = None
        if kl_weight > 0:
            kl_examples = [(model.tokenizer(t)["input_ids"], 0) for t in kl_texts]
            penalty = KLToBase(peft_model, kl_examples, kl_weight, batch_size, model.tokenizer.pad_token_id,
                               model.device, seed)
        losses = fit_causal_lm(peft_model, params, examples, model.tokenizer.pad_token_id, model.device, epochs, lr,
                               batch_size, seed, progress, "lora", checkpoint, penalty)
        _save(out, get_peft_model_state_dict(peft_model), peft_model.peft_config["default"], base)
    finally:
        peft_model.unload()
        model.hf_model.eval()
    logger.info("LoRA r=%d: %d steps, loss %.3f -> %.3f; adapter in %s", rank, len(losses), losses[0], losses[-1], out)
    return losses


def _check_examples(prompts: Sequence[str], completions: Sequence[str], save_epochs: Sequence[int],
                    **positive) -> None:
    """One-line errors for inputs no fine-tune can use."""
    if len(prompts) != len(completions) or not prompts:
        raise ValueError(f"train_lora needs as many completions as prompts, at least one (got {len(prompts)} "
                         f"prompts, {len(completions)} completions)")
    if any(not c for c in completions):
        raise ValueError("train_lora: every completion must be non-empty text (it is what the model learns)")
    for name, value in positive.items():
        if not value > 0:
            raise ValueError(f"train_lora: {name} must be > 0, got {value}")
    epochs = positive["epochs"]
    if any(not 1 <= e <= epochs for e in save_epochs):
        raise ValueError(f"train_lora: save_epochs must lie in 1..{epochs} (the epochs trained), got {list(save_epochs)}")


def fit_causal_lm(module, params, examples: list[tuple[list[int], int]], pad_id: int, device, epochs: int, lr: float,
                  batch_size: int, seed: int, progress: bool, desc: str, on_epoch=None, penalty=None) -> list[float]:
    """AdamW (weight decay 0) on the completion tokens' loss, ``epochs`` passes in fresh seeded orders.

    ``on_epoch(epoch)`` runs after each epoch (1-based), e.g. to save a checkpoint; ``penalty()``, when given, is a
    term added to every step's loss (the recorded loss is the sum); ``module`` is left in eval mode.

    Returns:
        The training loss of every step.
    """
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    keeps = keeps_logits(module)
    order_rng = np.random.default_rng(seed)
    losses: list[float] = []
    bar = tqdm(total=epochs * -(-len(examples) // batch_size), desc=desc, disable=not progress, leave=False)
    module.train()
    try:
        for epoch in range(1, epochs + 1):
            order = order_rng.permutation(len(examples))
            for start in range(0, len(order), batch_size):
                batch = _collate([examples[i] for i in order[start:start + batch_size]], pad_id, device)
                loss = completion_loss(module, batch, keeps)
                if penalty is not None:
                    loss = loss + penalty()
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                losses.append(float(loss.detach()))
                bar.update(1)
                bar.set_postfix(loss=f"{losses[-1]:.3f}")
            if on_epoch is not None:
                module.eval()
                on_epoch(epoch)
                module.train()
    finally:
        bar.close()
        module.eval()
    return losses


def completion_loss(module, batch: dict[str, torch.Tensor], keeps: bool = True) -> torch.Tensor:
    """The mean next-token cross-entropy over the completion tokens (``labels`` other than -100), as the model's own
    ``labels=`` loss computes it, with the LM head run only at the positions that predict a completion token (with
    ``keeps``: the model takes ``logits_to_keep``). A prompt is most of each example, and the head is a fifth of
    SmolLM2's forward pass and more than half of Gemma 3's (a 262k-token vocabulary)."""
    targets = batch["labels"][:, 1:]
    if not keeps:
        logits = module(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits[:, :-1]
    else:
        positions = (targets != -100).any(0).nonzero().squeeze(1)  # any row's completion: the others' are -100 there
        targets = targets[:, positions]
        logits = module(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                        logits_to_keep=positions).logits
    return torch.nn.functional.cross_entropy(logits.float().flatten(0, 1), targets.flatten(), ignore_index=-100)


class KLToBase:
    """``weight`` times the mean per-token KL(base || tuned) on the next seeded batch of ``examples`` (cycled).

    The base distribution is the PEFT model's own with its adapter disabled, computed without gradients.
    """

    def __init__(self, peft_model, examples: list[tuple[list[int], int]], weight: float, batch_size: int, pad_id: int,
                 device, seed: int):
        self.model, self.examples, self.weight, self.batch_size = peft_model, examples, weight, batch_size
        self.pad_id, self.device = pad_id, device
        self.rng = np.random.default_rng(seed + 1)
        self.queue: list[int] = []

    def __call__(self) -> torch.Tensor:
        while len(self.queue) < self.batch_size:
            self.queue.extend(self.rng.permutation(len(self.examples)).tolist())
        rows, self.queue = self.queue[:self.batch_size], self.queue[self.batch_size:]
        batch = _collate([self.examples[i] for i in rows], self.pad_id, self.device)
        inputs = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}
        with torch.no_grad(), self.model.disable_adapter():
            base = torch.log_softmax(self.model(**inputs).logits.float(), dim=-1)
        tuned = torch.log_softmax(self.model(**inputs).logits.float(), dim=-1)
        kl = (base.exp() * (base - tuned)).sum(-1)
        return self.weight * kl[batch["attention_mask"].bool()].mean()


def _tokenize(tokenizer, prompts: Sequence[str], completions: Sequence[str]) -> list[tuple[list[int], int]]:
    """``(ids, n_prompt)`` per example: the prompt's ids (special tokens as the model expects) then the completion's."""
    examples = []
    for prompt, completion in zip(prompts, completions, strict=True):
        head = tokenizer(prompt)["input_ids"]
        tail = tokenizer(completion, add_special_tokens=False)["input_ids"]
        examples.append((head + tail, len(head)))
    return examples


def _collate(examples: list[tuple[list[int], int]], pad_id: int, device) -> dict[str, torch.Tensor]:
    """Right-padded ``input_ids``, ``attention_mask`` and ``labels`` (-100 on prompt and padding)."""
    width = max(len(ids) for ids, _ in examples)
    input_ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), width), -100, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    for row, (ids, n_prompt) in enumerate(examples):
        input_ids[row, :len(ids)] = torch.tensor(ids)
        labels[row, n_prompt:len(ids)] = torch.tensor(ids[n_prompt:])
        mask[row, :len(ids)] = 1
    return {"input_ids": input_ids.to(device), "attention_mask": mask.to(device), "labels": labels.to(device)}


def _save(out: str | os.PathLike, weights: dict[str, torch.Tensor], config, base: dict) -> Path:
    """``adapter_model.safetensors``, ``veracity_base.json`` (the base model's id and weight fingerprint),
    then ``adapter_config.json``, each atomically (the config last: a folder without it is no adapter)."""
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {name: t.detach().to("cpu").contiguous() for name, t in weights.items()}
    atomic_write(folder / "adapter_model.safetensors", lambda tmp: save_file(tensors, str(tmp), {"format": "pt"}))
    atomic_write_text(folder / BASE_RECORD, json.dumps(base, indent=1) + "\n")
    fields = {k: sorted(v) if isinstance(v, set) else v for k, v in config.to_dict().items()}
    atomic_write_text(folder / "adapter_config.json", json.dumps(fields, indent=1, default=str) + "\n")
    return folder
