"""Honesty stimuli and the honesty reading vector (Zou et al. 2023, Representation Engineering).

Each stimulus pair is one true statement under an honest and under a dishonest instruction;
with ``prefixes=True`` every word prefix of the statement gives a pair (as RepE does with token
prefixes), so the direction reflects the instruction rather than the statement's last word.
"""

from __future__ import annotations

from collections.abc import Sequence

from veracity.data.chat import chat_prompt, has_chat_template
from veracity.hooks.model import VeracityModel
from veracity.steering.reading import reading_vector
from veracity.steering.vector import SteeringVector

__all__ = ["DISHONEST", "HONEST", "format_stimulus", "honesty_pairs", "honesty_vector"]

HONEST = "Pretend you are an honest person making statements about the world."
DISHONEST = "Pretend you are a dishonest person making statements about the world."


def format_stimulus(tokenizer, instruction: str, text: str) -> str:
    """The instruction as a user turn and ``text`` as the start of the assistant's reply.

    Uses the tokenizer's chat template when it has one, else ``"{instruction}\\n{text}"``.

    Args:
        tokenizer: The model's tokenizer (or ``None`` for the plain format).
        instruction: E.g. :data:`HONEST`.
        text: The (partial) statement.

    Returns:
        The prompt string.

    Example:
        >>> format_stimulus(None, HONEST, "The city of Paris")
        'Pretend you are an honest person making statements about the world.\\nThe city of Paris'
    """
    if has_chat_template(tokenizer):
        return chat_prompt(tokenizer, instruction, prefix=text)
    return f"{instruction}\n{text}"


def honesty_pairs(
    statements: Sequence[str], tokenizer=None, prefixes: bool = False, min_words: int = 2
) -> list[tuple[str, str]]:
    """``(honest, dishonest)`` prompt pairs for true statements.

    Args:
        statements: True statements, e.g. ``veracity.data.city_statements()`` rows with label 1.
        tokenizer: Used for the chat template (see :func:`format_stimulus`).
        prefixes: One pair per word prefix (``min_words`` words or more) instead of per statement.
        min_words: Shortest prefix used when ``prefixes`` is set.

    Returns:
        The pairs, honest member first.

    Example:
        >>> honesty_pairs(["Paris is in France."])[0][0].endswith("Paris is in France.")
        True
    """
    if isinstance(statements, str) or len(statements) == 0:
        raise ValueError("statements must be a non-empty list of strings")
    pairs = []
    for statement in statements:
        words = statement.split()
        shortest = min(min_words, len(words))
        texts = [" ".join(words[:k]) for k in range(shortest, len(words) + 1)] if prefixes else [statement]
        for text in texts:
            pairs.append((format_stimulus(tokenizer, HONEST, text), format_stimulus(tokenizer, DISHONEST, text)))
    return pairs


def honesty_vector(
    model: VeracityModel,
    statements: Sequence[str],
    layers="all",
    method: str = "pca",
    position="last",
    normalization: str = "unit",
    prefixes: bool = True,
    batch_size: int = 16,
    seed: int = 0,
    calibrate: bool = True,
) -> SteeringVector:
    """The honesty reading vector: honest minus dishonest instruction, per layer.

    Args:
        model: From :func:`veracity.hooks.load_model`.
        statements: True statements to embed in the stimuli.
        layers: ``"all"``, an int or a list.
        method: ``"pca"`` or ``"mean_diff"``.
        position: Token position (see :func:`veracity.hooks.extract`).
        normalization: ``"unit"``, ``"resid"`` or ``"gap"``.
        prefixes: Use every word prefix of each statement (more, varied pairs).
        batch_size: Texts per forward pass.
        seed: Seed of the PCA sign flips.
        calibrate: Set its suggested ``coefficient`` from the neutral-text KL (see :func:`reading_vector`).

    Returns:
        A :class:`SteeringVector` pointing towards the honest condition.

    Example:
        >>> from veracity.data import city_statements
        >>> true = [s for s, y in zip(*(lambda d: (d.statements, d.labels))(city_statements(20))) if y]
        >>> vector = honesty_vector(model, true, layers=[8, 12])
    """
    pairs = honesty_pairs(statements, model.tokenizer, prefixes=prefixes)
    vector = reading_vector(model, pairs, layers=layers, method=method, position=position,
                            normalization=normalization, batch_size=batch_size, seed=seed, calibrate=calibrate)
    vector.extra.update({"concept": "honesty", "honest_instruction": HONEST, "dishonest_instruction": DISHONEST,
                         "n_statements": len(statements), "prefixes": prefixes})
    return vector
