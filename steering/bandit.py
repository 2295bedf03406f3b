"""A text multi-armed bandit for EAST (Rahn et al. 2024): prompts, action distributions, episodes.

The model sees the rules and the history of presses and rewards and answers with one token, the
button's label. Its action distribution is the next-token distribution renormalised over the
arm tokens (exact, no sampling), optionally at a temperature ``T``: ``softmax(logits_arms / T)``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from jaxtyping import Float
from torch import Tensor

from veracity.data.chat import chat_prompt, has_chat_template
from veracity.hooks.logprobs import next_token_logprobs
from veracity.hooks.model import VeracityModel

__all__ = ["ARMS", "Bandit", "Episodes", "action_distribution", "arm_logprobs", "arm_token_ids", "bandit_prompt",
           "entropy", "play", "to_distribution"]

logger = logging.getLogger(__name__)

ARMS = ("A", "B", "C", "D", "E")


@dataclass
class Bandit:
    """Bernoulli arms.

    Attributes:
        probs: Reward probability of each arm.
        labels: One label per arm (each must be a single token with a leading space).
    """

    probs: Sequence[float]
    labels: Sequence[str] = ARMS

    def __post_init__(self):
        self.probs = [float(p) for p in self.probs]
        self.labels = list(self.labels)[: len(self.probs)]
        if len(self.probs) < 2 or len(self.labels) != len(self.probs):
            raise ValueError("a bandit needs at least 2 arms and one label per arm")
        if not all(0.0 <= p <= 1.0 for p in self.probs):
            raise ValueError("reward probabilities must lie in [0, 1]")

    @classmethod
    def random(cls, k: int = 5, seed: int = 0, labels: Sequence[str] = ARMS) -> Bandit:
        """``k`` arms with reward probabilities drawn uniformly from [0.1, 0.9] (seeded)."""
        if k > len(labels):
            raise ValueError(f"k={k} arms but only {len(labels)} labels: pass more labels")
        rng = np.random.default_rng(seed)
        return cls(np.round(rng.uniform(0.1, 0.9, size=k), 2).tolist(), labels[:k])


@dataclass
class Episodes:
    """What happened while playing: one row per decision.

    Attributes:
        prompts: The prompt of each decision.
        probs: The model's action distribution at each decision, ``(n, k)``.
        actions: Arm index chosen at each decision.
        rewards: Reward received.
        episode: Episode index of each decision.
    """

    prompts: list[str] = field(default_factory=list)
    probs: list[Tensor] = field(default_factory=list)
    actions: list[int] = field(default_factory=list)
    rewards: list[int] = field(default_factory=list)
    episode: list[int] = field(default_factory=list)

    def prob_matrix(self) -> Float[Tensor, "n k"]:
        """The action distributions stacked, ``(n_decisions, k)``."""
        return torch.stack(self.probs) if self.probs else torch.empty(0, 0)


def bandit_prompt(bandit: Bandit, history: Sequence[tuple[int, int]], tokenizer=None) -> str:
    """The prompt for the next decision; the answer is one arm label (after a space).

    Args:
        bandit: The game (its labels appear in the rules).
        history: ``(arm_index, reward)`` of each earlier round.
        tokenizer: Used for its chat template when it has one.

    Returns:
        A prompt ending right before the chosen label.

    Example:
        >>> bandit_prompt(Bandit([0.2, 0.8], ["A", "B"]), [(1, 1)]).splitlines()[-1]
        'Round 2: I press button'
    """
    labels = bandit.labels
    rules = (f"You are playing a game with {len(labels)} buttons: {', '.join(labels)}. Each press gives a "
             "reward of 0 or 1; some buttons pay more often than others. Collect as much reward as you can.")
    rounds = [f"Round {i + 1}: I press button {labels[a]} and get reward {r}." for i, (a, r) in enumerate(history)]
    question = "Which button do you press next? Answer with one letter."
    reply = f"Round {len(history) + 1}: I press button"
    if has_chat_template(tokenizer):
        return chat_prompt(tokenizer, "\n".join([rules, *rounds, question]), prefix=reply)
    return "\n".join([rules, *rounds, reply])


def arm_token_ids(tokenizer, labels: Sequence[str]) -> list[int]:
    """Token id of ``" " + label`` for each label; each must be one distinct token.

    Raises:
        ValueError: A label is several tokens (or unknown), or two labels share a token.
    """
    ids = []
    for label in labels:
        row = tokenizer(" " + label, add_special_tokens=False)["input_ids"]
        if len(row) != 1 or row[0] == getattr(tokenizer, "unk_token_id", None):
            raise ValueError(f"arm label {label!r} is not one known token for this tokenizer: choose other labels")
        ids.append(row[0])
    if len(set(ids)) != len(ids):
        raise ValueError(f"arm labels {list(labels)} share tokens: choose distinct labels")
    return ids


def arm_logprobs(
    model: VeracityModel, prompts: Sequence[str], arm_ids: Sequence[int], batch_size: int = 16
) -> Float[Tensor, "n k"]:
    """Next-token log-probabilities of the arm tokens (not renormalised), ``(n, k)``.

    Args:
        model: A loaded model (steering hooks active around this call apply).
        prompts: Prompts from :func:`bandit_prompt`.
        arm_ids: From :func:`arm_token_ids`.
        batch_size: Prompts per forward pass.

    Returns:
        Float32 log-probabilities; ``softmax(out / T)`` is the action distribution at temperature ``T``.
    """
    return next_token_logprobs(model, list(prompts), batch_size)[:, list(arm_ids)]


def to_distribution(logprobs: Float[Tensor, "n k"], temperature: float = 1.0) -> Float[Tensor, "n k"]:
    """Action distribution at temperature ``T`` from arm log-probabilities: ``softmax(logprobs / T)``."""
    if temperature <= 0:
        raise ValueError("temperature must be positive")
    return torch.softmax(logprobs.double() / temperature, dim=-1).float()


def action_distribution(
    model: VeracityModel, prompts: Sequence[str], arm_ids: Sequence[int], temperature: float = 1.0,
    batch_size: int = 16,
) -> Float[Tensor, "n k"]:
    """P(arm) for each prompt: next-token probabilities over the arm tokens, renormalised.

    Args:
        model: A loaded model (steering hooks active around this call apply).
        prompts: Prompts from :func:`bandit_prompt`.
        arm_ids: From :func:`arm_token_ids`.
        temperature: Sampling temperature ``T`` (``softmax(logits / T)`` over the arms).
        batch_size: Prompts per forward pass.

    Returns:
        Float32 ``(n, k)`` rows summing to 1.

    Example:
        >>> probs = action_distribution(model, [bandit_prompt(bandit, [])], arm_token_ids(model.tokenizer, ARMS))
    """
    if temperature <= 0:
        raise ValueError("temperature must be positive")
    return to_distribution(arm_logprobs(model, prompts, arm_ids, batch_size), temperature)


def entropy(probs: Float[Tensor, "... k"]) -> Float[Tensor, "..."]:
    """Shannon entropy in nats along the last axis (``0 log 0 = 0``)."""
    p = probs.double()
    return -(torch.where(p > 0, p * p.log(), torch.zeros_like(p))).sum(-1).float()


def play(
    model: VeracityModel, bandit: Bandit, n_episodes: int = 8, n_rounds: int = 10, seed: int = 0,
    temperature: float = 1.0, batch_size: int = 16,
) -> Episodes:
    """Play episodes in parallel, sampling each action from the model's action distribution.

    Args:
        model: The player (wrap the call in :func:`veracity.steering.steer` to play steered).
        bandit: The game.
        n_episodes: Independent episodes (batched together).
        n_rounds: Decisions per episode.
        seed: Seed for action sampling and rewards.
        temperature: Temperature of the action distribution.
        batch_size: Prompts per forward pass.

    Returns:
        The :class:`Episodes` log, decisions in round-major order.
    """
    if n_episodes < 1 or n_rounds < 1:
        raise ValueError("n_episodes and n_rounds must be at least 1")
    rng = np.random.default_rng(seed)
    arm_ids = arm_token_ids(model.tokenizer, bandit.labels)
    histories: list[list[tuple[int, int]]] = [[] for _ in range(n_episodes)]
    log = Episodes()
    for _ in range(n_rounds):
        prompts = [bandit_prompt(bandit, h, model.tokenizer) for h in histories]
        probs = action_distribution(model, prompts, arm_ids, temperature, batch_size)
        for e, (prompt, p) in enumerate(zip(prompts, probs)):
            p64 = p.double().numpy()
            action = int(rng.choice(len(p64), p=p64 / p64.sum()))
            reward = int(rng.random() < bandit.probs[action])
            histories[e].append((action, reward))
            log.prompts.append(prompt)
            log.probs.append(p)
            log.actions.append(action)
            log.rewards.append(reward)
            log.episode.append(e)
    return log
