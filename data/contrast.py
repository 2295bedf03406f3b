"""Contrast-pair prompts: each statement completed once with "false/no" and once with "true/yes".

Index 0 is always the "false/no" completion and index 1 the "true/yes" completion, the layout
:class:`veracity.probes.CCS` expects for ``(n, 2, d_model)`` activations. Named templates cover a plain
prompt, a Yes/No variant, a bare suffix, and chat-formatted versions that wrap the question in
the model's own chat template (the answer becomes the first assistant token).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from veracity.data.chat import chat_prompt

__all__ = ["CONTRAST_TEMPLATES", "ContrastTemplate", "contrast_pairs", "question_prompts"]


@dataclass(frozen=True)
class ContrastTemplate:
    """How to turn a statement into a question and its two completions.

    Attributes:
        name: Key in :data:`CONTRAST_TEMPLATES`.
        question: Text with a ``{statement}`` slot (the user turn when ``chat`` is true).
        answers: ``(no, yes)`` completions appended to the prompt, e.g. ``(" False", " True")``.
        chat: Wrap ``question`` in the tokenizer's chat template; answers open the assistant turn.
        prefix: Text placed after the chat template's assistant header (before the answer).
    """

    name: str
    question: str
    answers: tuple[str, str]
    chat: bool = False
    prefix: str = ""

    def __post_init__(self):
        if "{statement}" not in self.question:
            raise ValueError(f"template {self.name!r} needs a '{{statement}}' slot in its question")
        if len(self.answers) != 2 or self.answers[0] == self.answers[1]:
            raise ValueError(f"template {self.name!r} needs two different answers (no, yes)")


TF_QUESTION = "Is the following statement true or false?\n{statement}"
YN_QUESTION = "Is the following statement correct? Answer yes or no.\n{statement}"

CONTRAST_TEMPLATES: dict[str, ContrastTemplate] = {
    t.name: t
    for t in (
        ContrastTemplate("plain", TF_QUESTION + "\nAnswer:", (" False", " True")),
        ContrastTemplate("yes_no", YN_QUESTION + "\nAnswer:", (" No", " Yes")),
        ContrastTemplate("suffix", "{statement} This statement is", (" false", " true")),
        ContrastTemplate("chat", TF_QUESTION, ("False", "True"), chat=True),
        ContrastTemplate("chat_yes_no", YN_QUESTION, ("No", "Yes"), chat=True),
    )
}
"""The named templates: ``plain``, ``yes_no``, ``suffix``, ``chat`` and ``chat_yes_no``."""


def get_template(template: str | ContrastTemplate) -> ContrastTemplate:
    """Look a template up by name (a :class:`ContrastTemplate` passes through)."""
    if isinstance(template, ContrastTemplate):
        return template
    if template not in CONTRAST_TEMPLATES:
        raise ValueError(f"unknown contrast template {template!r}: choose one of {', '.join(CONTRAST_TEMPLATES)}")
    return CONTRAST_TEMPLATES[template]


def question_prompts(
    statements: Sequence[str], template: str | ContrastTemplate = "plain", tokenizer=None
) -> list[str]:
    """The prompt of each statement up to where the answer goes (no answer appended).

    Args:
        statements: The statements.
        template: A name from :data:`CONTRAST_TEMPLATES` or a :class:`ContrastTemplate`.
        tokenizer: Needed for chat templates (``model.tokenizer``).

    Returns:
        One prompt per statement; the next token is the model's verdict.

    Example:
        >>> question_prompts(["Paris is in France."])[0]
        'Is the following statement true or false?\\nParis is in France.\\nAnswer:'
    """
    spec = get_template(template)
    if isinstance(statements, str):
        raise ValueError("statements must be a list of strings (wrap a single statement in a list)")
    questions = [spec.question.replace("{statement}", s) for s in statements]
    if not spec.chat:
        return questions
    return [chat_prompt(tokenizer, q, spec.prefix) for q in questions]


def contrast_pairs(
    statements: Sequence[str], template: str | ContrastTemplate = "plain", tokenizer=None
) -> tuple[list[str], list[str]]:
    """Complete every statement's prompt with the "no" answer and with the "yes" answer.

    Args:
        statements: The statements (their labels are not needed: CCS is unsupervised).
        template: A name from :data:`CONTRAST_TEMPLATES` or a :class:`ContrastTemplate`.
        tokenizer: Needed for chat templates (``model.tokenizer``).

    Returns:
        ``(texts_no, texts_yes)``: index 0 = "false/no" completion, index 1 = "true/yes".

    Example:
        >>> no, yes = contrast_pairs(["Paris is in France."])
        >>> yes[0].endswith("Answer: True"), no[0].endswith("Answer: False")
        (True, True)
    """
    spec = get_template(template)
    prompts = question_prompts(statements, spec, tokenizer)
    no, yes = spec.answers
    return [p + no for p in prompts], [p + yes for p in prompts]
