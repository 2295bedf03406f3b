"""Let a model answer questions (greedy and sampled), grade the answers, and ask it P(True).

Generation is batched with left padding (the tokenizer's side is restored afterwards, so
``veracity.hooks.extract``'s right-padding convention is untouched); prompts use the model's chat template.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from veracity.data import QADataset, chat_prompt, grade
from veracity.hooks.answer_store import answer_store
from veracity.hooks.logprobs import token_probability

__all__ = ["GradedAnswers", "answer_and_grade", "chat_or_plain", "followup_prompts", "generate", "greedy_and_samples",
           "left_padding", "p_true", "p_true_prompt", "qa_prompts", "user_turn"]

logger = logging.getLogger(__name__)

SYSTEM = "You are a helpful assistant. Answer briefly."
INSTRUCTIONS = {"number": "Answer with just the number.", "text": "Answer with just the name."}
P_TRUE_QUESTION = ("Question: {question}\nProposed answer: {answer}\n"
                   "Is the proposed answer true or false? Answer True or False.")


@contextmanager
def left_padding(tokenizer) -> Iterator[None]:
    """Temporarily pad on the left (what ``generate`` needs); restores the old side on exit."""
    old = tokenizer.padding_side
    tokenizer.padding_side = "left"
    try:
        yield
    finally:
        tokenizer.padding_side = old


def chat_or_plain(tokenizer, user: str, system: str | None = None, history: Sequence[tuple[str, str]] = ()) -> str:
    """``user`` as a chat turn under ``system`` (default :data:`SYSTEM`) after earlier ``(user, assistant)``
    turns, or "Question: ... Answer:" lines without a chat template (a given ``system`` first, on its own line)."""
    if getattr(tokenizer, "chat_template", None):
        return chat_prompt(tokenizer, user, system=system or SYSTEM, history=history)
    head = f"{system}\n\n" if system else ""
    earlier = "".join(f"Question: {asked}\nAnswer: {answered}\n\n" for asked, answered in history)
    return f"{head}{earlier}Question: {user}\nAnswer:"


def user_turn(item) -> str:
    """The question with its answer-format instruction, as the user says it."""
    return f"{item.question} {INSTRUCTIONS[item.kind]}"


def qa_prompts(model, data: QADataset) -> list[str]:
    """One chat-formatted prompt per question (plain "Question: ... Answer:" without a chat template)."""
    return [chat_or_plain(model.tokenizer, user_turn(item)) for item in data.items]


def followup_prompts(model, data: QADataset, answers: Sequence[str], followup: str) -> list[str]:
    """The question's chat continued: ``answers[i]`` as the assistant's turn, then ``followup`` as the user's.

    Each prompt ends where the assistant's reply to ``followup`` begins. Without a chat template the
    lines are "Question: ...", "Answer: {answer}", ``followup`` and "Answer:".

    Example:
        >>> followup_prompts(model, data, ["Paris"], "How confident are you, 0-100?")  # doctest: +SKIP
    """
    tok, prompts = model.tokenizer, []
    for item, answer in zip(data.items, answers, strict=True):
        if not getattr(tok, "chat_template", None):
            prompts.append(f"Question: {user_turn(item)}\nAnswer: {answer}\n{followup}\nAnswer:")
            continue
        prompts.append(chat_prompt(tok, followup, system=SYSTEM, history=[(user_turn(item), answer or "(none)")]))
    return prompts


def generate(model, prompts: Sequence[str], max_new_tokens: int = 16, num_samples: int = 0,
             temperature: float = 1.0, batch_size: int = 16, seed: int = 0, progress: bool = True) -> list[list[str]]:
    """Continue each prompt: greedily (``num_samples=0``) or by sampling ``num_samples`` times.

    Args:
        model: A :class:`veracity.hooks.VeracityModel`.
        prompts: Full prompt strings (already chat-formatted).
        max_new_tokens: Tokens generated at most per answer.
        num_samples: 0 for one greedy answer, else answers sampled at ``temperature`` (no top-k/top-p).
        temperature: Sampling temperature.
        batch_size: Prompts per ``generate`` call (each expands to ``num_samples`` rows).
        seed: Seeds ``torch`` before sampling.
        progress: Show a progress bar.

    Returns:
        Per prompt, a list of decoded answers (1 greedy, or ``num_samples``), special tokens removed.
    """
    tok = model.tokenizer
    sample = num_samples > 0
    per_prompt = num_samples if sample else 1
    options = {"do_sample": True, "temperature": temperature, "top_k": 0, "top_p": 1.0} if sample else {"do_sample": False}
    torch.manual_seed(seed)
    # Greedy answers inside resumable_answers(...) are kept per batch: an interrupted run generates only the rest.
    store = None if sample else answer_store(model, prompts, {"max_new_tokens": max_new_tokens}, batch_size)
    out: list[list[str]] = []
    bar = tqdm(total=len(prompts), desc="sample" if sample else "greedy", disable=not progress, leave=False)
    with left_padding(tok), torch.no_grad():
        for index, start in enumerate(range(0, len(prompts), batch_size)):
            if store is not None and (kept := store.read(index)) is not None:
                out += kept["answers"]
                bar.update(len(kept["answers"]))
                continue
            batch = tok(list(prompts[start : start + batch_size]), return_tensors="pt", padding=True)
            batch = {k: v.to(model.device) for k, v in batch.items()}
            ids = model.engine.generate(batch["input_ids"], batch["attention_mask"], max_new_tokens=max_new_tokens,
                                         num_return_sequences=per_prompt, pad_token_id=tok.pad_token_id, **options)
            texts = tok.batch_decode(ids[:, batch["input_ids"].shape[1]:], skip_special_tokens=True)
            answers = [[t.strip() for t in texts[i : i + per_prompt]] for i in range(0, len(texts), per_prompt)]
            if store is not None:
                store.write(index, answers)
            out += answers
            bar.update(len(batch["input_ids"]))
    bar.close()
    return out


def _eos_ids(model) -> torch.Tensor:
    ids = model.engine.generation_config.eos_token_id
    ids = [ids] if isinstance(ids, int) else list(ids or [])
    return torch.tensor(sorted({*ids, model.tokenizer.eos_token_id} - {None}), device=model.device)


def _greedy_and_samples(model, batch: dict, k: int, max_new_tokens: int, temperature: float,
                        generator: torch.Generator) -> torch.Tensor:
    """Prefill each prompt once, then decode 1 greedy row and ``k`` sampled rows from its cache.

    Returns:
        ``(batch * (k + 1), new_tokens)`` token ids, row ``i * (k + 1)`` greedy; pad after EOS.
    """
    step_fn, rows, pad = model.engine.step, k + 1, model.tokenizer.pad_token_id
    mask = batch["attention_mask"]
    logits, cache = step_fn(batch["input_ids"], mask, (mask.cumsum(1) - 1).clamp(min=0))
    cache.batch_repeat_interleave(rows)
    mask = mask.repeat_interleave(rows, dim=0)
    logits = logits.float().repeat_interleave(rows, dim=0)
    is_greedy = torch.arange(len(mask), device=mask.device) % rows == 0
    done = torch.zeros(len(mask), dtype=torch.bool, device=mask.device)
    eos, tokens = _eos_ids(model), []
    for _ in range(max_new_tokens):
        probs = torch.softmax(logits / temperature, dim=-1)
        sampled = torch.multinomial(probs.cpu(), 1, generator=generator).squeeze(1).to(mask.device)
        step = torch.where(is_greedy, logits.argmax(dim=-1), sampled).masked_fill(done, pad)
        tokens.append(step)
        done |= torch.isin(step, eos)
        if done.all():
            break
        mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
        logits, cache = step_fn(step[:, None], mask, mask.sum(1, keepdim=True) - 1, cache)
        logits = logits.float()
    return torch.stack(tokens, dim=1)


def greedy_and_samples(model, prompts: Sequence[str], k: int = 4, max_new_tokens: int = 16,
                       temperature: float = 1.0, batch_size: int = 16, seed: int = 0,
                       progress: bool = True) -> tuple[list[str], list[list[str]]]:
    """One greedy answer and ``k`` sampled answers per prompt, sharing one prefill per prompt.

    Equivalent to :func:`generate` run greedily and then with ``num_samples=k`` (the greedy answers
    are identical; samples differ only in random draws), but each prompt is encoded once and all
    ``k + 1`` continuations decode together from its cache: about ``k + 1`` times less prefill work.

    Args:
        model: A :class:`veracity.hooks.VeracityModel`.
        prompts: Full prompt strings.
        k: Sampled answers per prompt (pure sampling at ``temperature``; 0 for greedy only).
        max_new_tokens: Tokens generated at most per answer.
        temperature: Sampling temperature.
        batch_size: Prompts per forward pass (each expands to ``k + 1`` rows when decoding).
        seed: Seeds the sampling generator.
        progress: Show a progress bar.

    Returns:
        ``(greedy, samples)``: one string per prompt, and ``k`` strings per prompt.
    """
    tok = model.tokenizer
    generator = torch.Generator().manual_seed(seed)
    # Inside resumable_answers(...) each batch is kept with the sampler's state after it: a resumed run draws on
    # from there, so its samples equal an uninterrupted run's.
    store = answer_store(model, prompts, {"k": k, "max_new_tokens": max_new_tokens, "temperature": temperature,
                                          "seed": seed, "sampler": "greedy_and_samples"}, batch_size)
    greedy, samples = [], []
    bar = tqdm(total=len(prompts), desc="answer", disable=not progress, leave=False)
    with left_padding(tok), torch.no_grad():
        for index, start in enumerate(range(0, len(prompts), batch_size)):
            if store is not None and (kept := store.read(index)) is not None and kept["state"]:
                rows = kept["answers"]
                generator.set_state(torch.frombuffer(bytearray(base64.b64decode(kept["state"])), dtype=torch.uint8))
            else:
                batch = tok(list(prompts[start : start + batch_size]), return_tensors="pt", padding=True)
                batch = {key: v.to(model.device) for key, v in batch.items()}
                ids = _greedy_and_samples(model, batch, k, max_new_tokens, temperature, generator)
                texts = [t.strip() for t in tok.batch_decode(ids, skip_special_tokens=True)]
                rows = [texts[i : i + k + 1] for i in range(0, len(texts), k + 1)]
                if store is not None:
                    store.write(index, rows, base64.b64encode(generator.get_state().numpy().tobytes()).decode())
            for row in rows:
                greedy.append(row[0])
                samples.append(row[1:])
            bar.update(len(rows))
    bar.close()
    return greedy, samples


@dataclass
class GradedAnswers:
    """The model's answers to a QA set and their grades.

    Attributes:
        greedy: The greedy answer per question.
        samples: ``k`` sampled answers per question.
        correct: 1 where the greedy answer is correct.
        sample_correct: ``(n, k)`` grades of the samples.
    """

    greedy: list[str]
    samples: list[list[str]]
    correct: np.ndarray
    sample_correct: np.ndarray

    @property
    def soft(self) -> np.ndarray:
        """Fraction of the sampled answers that are correct (``correct`` when ``k == 0``)."""
        if self.sample_correct.shape[1] == 0:
            return self.correct.astype(np.float64)
        return self.sample_correct.mean(axis=1)


def answer_and_grade(model, data: QADataset, k: int = 5, max_new_tokens: int = 16, temperature: float = 1.0,
                     batch_size: int = 16, seed: int = 0, progress: bool = True,
                     prompts: Sequence[str] | None = None) -> GradedAnswers:
    """Greedy answer plus ``k`` samples per question, each graded against the references.

    ``prompts`` (one per question) replaces the plain question prompts, e.g. a passage before each question."""
    if prompts is not None and len(prompts) != len(data):
        raise ValueError(f"{len(prompts)} prompts for {len(data)} questions: give one prompt per question")
    prompts = qa_prompts(model, data) if prompts is None else list(prompts)
    greedy, samples = greedy_and_samples(model, prompts, k, max_new_tokens, temperature, batch_size, seed, progress)
    correct = np.array([grade(item, a) for item, a in zip(data.items, greedy)], dtype=np.int64)
    sample_correct = np.array([[grade(item, s) for s in row] for item, row in zip(data.items, samples)],
                              dtype=np.float64).reshape(len(data), k)
    logger.info("greedy accuracy %.3f, sampled accuracy %.3f", correct.mean(),
                sample_correct.mean() if k else float("nan"))
    return GradedAnswers(greedy, samples, correct, sample_correct)


P_TRUE_SHOTS = (
    ("How many days are there in a week?", "Seven", "True"),
    ("What is the largest planet in the solar system?", "Mars", "False"),
    ("What is 9 + 6?", "15", "True"),
    ("Which gas do plants take in to make sugar?", "Oxygen", "False"),
)
"""Worked verdicts shown before the judged answer in few-shot P(True) (general facts, none from a QA set)."""

P_TRUE_SAMPLES = "Question: {question}\nSome answers you could give: {samples}\n"


def p_true_prompt(question: str, answer: str, shots: bool = False, samples: Sequence[str] = ()) -> str:
    """The user turn of a P(True) question: optional worked verdicts, optional other samples, the answer.

    Args:
        question: The question.
        answer: The proposed answer (empty -> "(none)").
        shots: Put :data:`P_TRUE_SHOTS` first, each with its verdict.
        samples: The model's other answers to the same question, listed before the judged one
            (Kadavath et al.: showing several samples improves self-evaluation).

    Returns:
        The text; the model's reply to it starts with its verdict.
    """
    parts = [P_TRUE_QUESTION.format(question=q, answer=a) + f"\nAnswer: {verdict}\n\n" for q, a, verdict in P_TRUE_SHOTS
             ] if shots else []
    if samples:
        listed = "; ".join(s.splitlines()[0].strip() if s.strip() else "(none)" for s in samples)
        parts.append(P_TRUE_SAMPLES.format(question=question, samples=listed))
    parts.append(P_TRUE_QUESTION.format(question=question, answer=answer or "(none)"))
    return "".join(parts)


P_TRUE_OWN_TURN = "Is your answer true or false? Answer True or False."
"""Asked after the model's own answer, in the same chat (``p_true(..., own_turn=True)``)."""


def p_true(model, data: QADataset, answers: Sequence[str], batch_size: int = 16, shots: bool = False,
           samples: Sequence[Sequence[str]] | None = None, own_turn: bool = False) -> np.ndarray:
    """The model's own probability that its proposed answer is true (Kadavath et al. 2022).

    By default the question and proposed answer go into one user turn (:func:`p_true_prompt`:
    zero-shot, with worked verdicts first when ``shots``, and with the model's other sampled
    answers listed when ``samples`` is given). With ``own_turn`` the answer stays the model's own
    reply in the chat and :data:`P_TRUE_OWN_TURN` follows it (:func:`followup_prompts`). P(True)
    is the next-token probability of "True" renormalised over {"True", "False"} at the start of
    the assistant's reply.
    """
    samples = samples if samples is not None else [()] * len(data)
    if own_turn:
        prompts = followup_prompts(model, data, answers, P_TRUE_OWN_TURN)
    else:
        prompts = [chat_or_plain(model.tokenizer, p_true_prompt(item.question, answer, shots, others))
                   for item, answer, others in zip(data.items, answers, samples, strict=True)]
    chat = bool(getattr(model.tokenizer, "chat_template", None))
    yes, no = ("True", "False") if chat else (" True", " False")
    return token_probability(model, prompts, yes=yes, no=no, batch_size=batch_size).double().numpy()
