"""Dialogues a lie monitor reads: the messages before the assistant's answer, and the answer.

A :class:`Dialogue` knows which tokens are the answer: :func:`answer_tokens` renders the messages
with the model's chat template (``Question: ... Answer:`` lines without one) and appends the
answer's own tokens, so the answer starts at a known index whatever the template does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from veracity.hooks.extract import tokenize
from veracity.hooks.model import VeracityModel

__all__ = ["ROLES", "Dialogue", "answer_tokens", "check_dialogues", "prompt_text", "with_follow_up"]

ROLES = ("system", "user", "assistant")


@dataclass(frozen=True)
class Dialogue:
    """The messages before an assistant's answer, the answer, and what is known about it.

    Attributes:
        messages: ``(role, content)`` pairs, oldest first, ending with the user's turn; roles are
            ``system``, ``user`` and ``assistant`` (earlier assistant turns).
        answer: The assistant's answer the monitor judges.
        lie: ``True`` for a lie, ``False`` for an honest answer, ``None`` when unknown.
        group: What the dialogue is about (the question or fact): splits keep a group on one side.
        kind: The lie kind or pressure it came from (for per-kind figures).

    Example:
        >>> Dialogue.ask("What is the capital of France?", "Paris.", lie=False, group="france")
    """

    messages: tuple[tuple[str, str], ...]
    answer: str
    lie: bool | None = None
    group: str = ""
    kind: str = ""

    def __post_init__(self):
        messages = tuple(_message(m) for m in self.messages) if isinstance(self.messages, Sequence) else None
        if not messages:
            raise ValueError("a dialogue needs at least one message before its answer, e.g. "
                             "Dialogue.ask(question, answer)")
        if messages[-1][0] != "user":
            raise ValueError(f"a dialogue's last message is the user's turn the answer replies to, not "
                             f"{messages[-1][0]!r}: end the messages with ('user', ...)")
        if not isinstance(self.answer, str) or not self.answer.strip():
            raise ValueError(f"a dialogue without an answer ({self.answer!r}): give the assistant's answer to judge")
        if self.lie is not None and not isinstance(self.lie, bool):
            raise ValueError(f"lie must be True, False or None, got {self.lie!r}")
        object.__setattr__(self, "messages", messages)
        object.__setattr__(self, "group", str(self.group))
        object.__setattr__(self, "kind", str(self.kind))

    @classmethod
    def ask(cls, question: str, answer: str, system: str | None = None, **known) -> Dialogue:
        """One question (under an optional system message) and its answer."""
        return cls(((("system", system),) if system else ()) + (("user", question),), answer, **known)


def _message(message) -> tuple[str, str]:
    if isinstance(message, Mapping):
        message = (message.get("role"), message.get("content"))
    if not (isinstance(message, Sequence) and len(message) == 2):
        raise ValueError(f"a message is (role, content) or {{'role': ..., 'content': ...}}, got {message!r}")
    role, content = message
    if role not in ROLES or not isinstance(content, str):
        raise ValueError(f"a message needs a role in {ROLES} and text content, got ({role!r}, {content!r})")
    return role, content


def check_dialogues(dialogues, labelled: bool = False) -> list[Dialogue]:
    """``dialogues`` as a non-empty list of :class:`Dialogue`; with ``labelled``, each says ``lie`` and both kinds occur."""
    if isinstance(dialogues, Dialogue) or not isinstance(dialogues, Sequence) or not dialogues:
        raise ValueError("pass a non-empty list of Dialogue objects (wrap a single one in a list)")
    for i, d in enumerate(dialogues):
        if not isinstance(d, Dialogue):
            raise ValueError(f"item {i} is a {type(d).__name__}, not a Dialogue: build it with Dialogue.ask(...)")
    if labelled:
        unknown = sum(d.lie is None for d in dialogues)
        if unknown:
            raise ValueError(f"{unknown} of {len(dialogues)} training dialogues have lie=None: a monitor is fitted "
                             "on answers known to be lies (lie=True) or honest (lie=False)")
        if len({d.lie for d in dialogues}) < 2:
            raise ValueError(f"every training dialogue has lie={dialogues[0].lie}: a monitor needs lies and honest "
                             "answers")
    return list(dialogues)


def prompt_text(tokenizer, messages: Sequence[tuple[str, str]]) -> str:
    """The messages as the model reads them just before the assistant speaks."""
    if getattr(tokenizer, "chat_template", None):
        chat = [{"role": role, "content": content} for role, content in messages]
        return tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
    lines = []
    for role, content in messages:  # as veracity.hooks.generation.chat_or_plain writes a conversation
        lines.append(f"{content}\n\n" if role == "system" else
                     f"Question: {content}\n" if role == "user" else f"Answer: {content}\n\n")
    return "".join(lines) + "Answer:"


def _answer_text(tokenizer, answer: str) -> str:
    return answer if getattr(tokenizer, "chat_template", None) else " " + answer.lstrip()


def answer_tokens(model: VeracityModel, dialogues: Sequence[Dialogue]) -> list[tuple[list[int], int]]:
    """Token ids of prompt + answer per dialogue, and the index of the answer's first token.

    The prompt is tokenised as :func:`veracity.hooks.extract` tokenises a text; the answer's tokens
    are its own tokenisation (no special tokens) appended after it.
    """
    prompts = tokenize(model, [prompt_text(model.tokenizer, d.messages) for d in dialogues])
    answers = model.tokenizer([_answer_text(model.tokenizer, d.answer) for d in dialogues],
                              add_special_tokens=False)["input_ids"]
    rows = []
    for i, (prompt, answer) in enumerate(zip(prompts, answers, strict=True)):
        if not answer:
            raise ValueError(f"dialogue {i}'s answer {dialogues[i].answer!r} tokenises to nothing: give a real answer")
        if not prompt:
            raise ValueError(f"dialogue {i}'s prompt tokenises to nothing: give the question it answers")
        rows.append((list(prompt) + list(answer), len(prompt)))
    return rows


def with_follow_up(tokenizer, dialogue: Dialogue, question: str) -> str:
    """The dialogue with its answer said and ``question`` asked after it, ready for the next token."""
    return prompt_text(tokenizer, [*dialogue.messages, ("assistant", dialogue.answer), ("user", question)])
