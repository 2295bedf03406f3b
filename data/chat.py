"""Chat prompts, built in one place: every chat-formatted prompt in veracity comes from :func:`chat_prompt`."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["chat_prompt", "has_chat_template", "reply_text"]


def has_chat_template(tokenizer) -> bool:
    """Whether ``tokenizer`` has a chat template."""
    return tokenizer is not None and bool(getattr(tokenizer, "chat_template", None))


def reply_text(tokenizer, text: str) -> str:
    """``text`` as a fine-tune's completion: then the end-of-turn token in a chat, or after a space and ending the
    line in a plain prompt ("Answer:" + " Paris" + newline), so the model learns to stop."""
    if has_chat_template(tokenizer):
        return f"{text}{tokenizer.eos_token or ''}"
    return f" {text}\n"


def own_answer(tokenizer, text: str) -> str:
    """A model's own answer as a fine-tune's target: stripped, and without a chat template its first line only (what
    the graders read): a base model runs on past its answer ("14\nAnswer: 14 + 6 = 20 ..."), and training on the
    run-on would teach it to run on."""
    text = text.strip()
    return text if has_chat_template(tokenizer) else text.split("\n")[0].strip()


def chat_prompt(tokenizer, user: str, prefix: str = "", system: str | None = None,
                history: Sequence[tuple[str, str]] = ()) -> str:
    """``user`` as the last chat turn in the tokenizer's chat template, ending at the assistant's reply.

    Args:
        tokenizer: A Hugging Face tokenizer with a ``chat_template``.
        user: The user message.
        prefix: Appended after the assistant header (the start of the reply).
        system: An optional system message (default: whatever the template adds by itself).
        history: Earlier ``(user, assistant)`` turns, oldest first.

    Returns:
        The formatted prompt string (special tokens as text; tokenise it without adding more).

    Raises:
        ValueError: The tokenizer has no chat template.

    Example:
        >>> chat_prompt(tok, "Which country is Lyon in?", prefix="Lyon is in", system="Answer briefly.")
    """
    if not has_chat_template(tokenizer):
        raise ValueError("a chat-formatted prompt needs a tokenizer with a chat template: pass "
                         "tokenizer=model.tokenizer, or use a plain template such as 'plain'")
    messages = [{"role": "system", "content": system}] if system else []
    for asked, answered in history:
        messages += [{"role": "user", "content": asked}, {"role": "assistant", "content": answered}]
    messages.append({"role": "user", "content": user})
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True) + prefix
