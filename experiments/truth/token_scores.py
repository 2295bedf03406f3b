"""Per-token probe scores: a fitted probe's P(true) at every token of a text or a generated answer.

One forward pass records the residual stream at the probe's layer for every position; the
probe's ``predict_true`` (P(true)) turns each position into a score. Tokens are tokenised exactly as
:func:`veracity.hooks.extract` does, so the score of the last token equals the probe applied to
``extract(model, [text], layers=[layer])`` (tested).

Example:
    >>> probe = load_probe("artifacts/transfer/probes/cities__logistic")
    >>> view = score_tokens(model, probe, "The city of Paris is in Japan.")
    >>> token_figure([view]).show()
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

import numpy as np
import plotly.graph_objects as go
import torch
from jaxtyping import Float

from veracity.data.chat import chat_prompt, has_chat_template
from veracity.hooks.convention import resolve_layers
from veracity.hooks.extract import run_layers, tokenize
from veracity.hooks.model import VeracityModel

__all__ = ["TokenScores", "live_view", "probe_layer", "score_answer", "score_ids", "score_tokens", "shown",
           "token_figure"]


@dataclass
class TokenScores:
    """A probe's P(true) at every token of one text.

    Attributes:
        tokens: Each token decoded on its own (spaces kept).
        scores: P(true) per token, float64, same length as ``tokens``.
        layer: The layer the probe read (residual stream after block ``layer``).
        answer_start: Index of the first generated token (``len(tokens)`` for a plain text).
        label: A name for the row in figures.
        token_ids: The token ids scored.
    """

    tokens: list[str]
    scores: Float[np.ndarray, " pos"]
    layer: int
    answer_start: int | None = None
    label: str = ""
    token_ids: list[int] = field(default_factory=list)

    def __post_init__(self):
        self.scores = np.asarray(self.scores, dtype=np.float64)
        if len(self.tokens) != len(self.scores):
            raise ValueError(f"{len(self.tokens)} tokens but {len(self.scores)} scores: give one score per token")
        if self.answer_start is None:
            self.answer_start = len(self.tokens)

    @property
    def text(self) -> str:
        """The tokens joined back together."""
        return "".join(self.tokens)


def probe_layer(probe, layer: int | None = None) -> int:
    """The layer to read: ``layer`` if given, else the one recorded in the probe's provenance."""
    if layer is not None:
        return int(layer)
    recorded = getattr(probe, "provenance", {}).get("layer")
    if recorded is None:
        raise ValueError("the probe's provenance records no layer: pass layer=")
    return int(recorded)


def score_ids(model: VeracityModel, probe, ids: list[int], layer: int) -> Float[np.ndarray, " pos"]:
    """P(true) at every position of one token sequence (no padding, one forward pass).

    Args:
        model: From :func:`veracity.hooks.load_model`.
        probe: A fitted probe on ``(n, d_model)`` activations of this model at ``layer``.
        ids: Token ids.
        layer: The layer to read (negatives count from the end).

    Returns:
        Float64 array ``(len(ids),)``.
    """
    (layer,) = resolve_layers([layer], model.n_layers, model.model_id)
    if not ids:
        raise ValueError("no tokens to score: pass a non-empty text")
    input_ids = torch.tensor([ids], device=model.device)
    hidden = run_layers(model, input_ids, torch.ones_like(input_ids), [layer])[layer]
    return np.asarray(probe.predict_true(hidden[0].to("cpu", torch.float32)), dtype=np.float64)


def _decode_each(model: VeracityModel, ids: list[int]) -> list[str]:
    return [model.tokenizer.decode([i]) for i in ids]


def score_tokens(model: VeracityModel, probe, text: str, layer: int | None = None, label: str = "") -> TokenScores:
    """A probe's P(true) at every token of ``text`` (tokenised as :func:`veracity.hooks.extract` does).

    Args:
        model: From :func:`veracity.hooks.load_model`.
        probe: A fitted probe on ``(n, d_model)`` activations (e.g. from ``veracity.probes.load_probe``).
        text: The text to read.
        layer: Layer to read (default: the probe's provenance ``layer``).
        label: Row name in figures (default: the text).

    Returns:
        :class:`TokenScores`.

    Example:
        >>> view = score_tokens(model, probe, "The city of Paris is in Japan.", layer=12)
        >>> view.scores[-1]  # P(true) at the final "."
    """
    layer = probe_layer(probe, layer)
    (ids,) = tokenize(model, [text])
    scores = score_ids(model, probe, ids, layer)
    return TokenScores(_decode_each(model, ids), scores, layer, label=label or text, token_ids=list(ids))


def score_answer(model: VeracityModel, probe, question: str, max_new_tokens: int = 32, layer: int | None = None,
                 chat: bool = True) -> TokenScores:
    """Generate a greedy answer to ``question`` and score every token of prompt and answer.

    Args:
        model: From :func:`veracity.hooks.load_model`.
        probe: A fitted probe (see :func:`score_tokens`).
        question: The user's question.
        max_new_tokens: Length limit of the answer.
        layer: Layer to read (default: the probe's provenance ``layer``).
        chat: Wrap the question in the tokenizer's chat template (when it has one).

    Returns:
        :class:`TokenScores` with ``answer_start`` at the first generated token.

    Example:
        >>> view = score_answer(model, probe, "Which country is the city of Lyon in?")
        >>> view.tokens[view.answer_start:]  # the answer
    """
    layer = probe_layer(probe, layer)
    tokenizer = model.tokenizer
    if chat and has_chat_template(tokenizer):
        prompt_ids = tokenizer(chat_prompt(tokenizer, question), add_special_tokens=False)["input_ids"]
    else:
        (prompt_ids,) = tokenize(model, [question])
    input_ids = torch.tensor([list(prompt_ids)], device=model.device)
    with torch.no_grad():
        generated = model.engine.generate(input_ids, torch.ones_like(input_ids), do_sample=False,
                                            max_new_tokens=max_new_tokens, pad_token_id=tokenizer.pad_token_id)
    ids = generated[0].tolist()
    scores = score_ids(model, probe, ids, layer)
    return TokenScores(_decode_each(model, ids), scores, layer, answer_start=len(prompt_ids), label=question,
                       token_ids=ids)


def shown(token: str) -> str:
    """A token as a cell label: newlines as ⏎, leading spaces as a middle dot."""
    token = token.replace("\n", "⏎")
    return "·" + token[1:] if token.startswith(" ") else token


def live_view(model: VeracityModel, live, row: int, generated_ids, label: str = "") -> TokenScores:
    """One generated row's lie scores from :func:`veracity.monitors.monitor` as a token view.

    Each token read back gets ``1 / (1 + exp(score))``, the monitor's P(honest) (the view's "P(true)"
    colour scale); the last generated token, never read back, is left out.

    Args:
        model: The model that generated.
        live: The :class:`~veracity.monitors.LiveScores` filled during generation.
        row: The row of the generated batch.
        generated_ids: That row's generated token ids (without the prompt).
        label: Row name in figures.

    Example:
        >>> token_figure([live_view(model, live, 0, new_ids[0], label="answer 0")]).show()
    """
    scores = np.asarray(live.scores[row], dtype=np.float64)
    ids = [int(i) for i in generated_ids][:len(scores)]
    if len(ids) < len(scores):
        raise ValueError(f"row {row} has {len(scores)} scores but {len(ids)} generated tokens: pass that row's "
                         "generated ids")
    return TokenScores(_decode_each(model, ids), 1 / (1 + np.exp(scores)), live.layer, answer_start=0,
                       label=label, token_ids=ids)


def token_figure(views: list[TokenScores], width: int = 16, title: str | None = None) -> go.Figure:
    """A heatmap of P(true) per token: each text wrapped into rows of ``width`` tokens.

    Args:
        views: From :func:`score_tokens` / :func:`score_answer`.
        width: Tokens per row.
        title: Figure title.

    Returns:
        A plotly figure (blue = probe reads "true", red = "false", white = 0.5); generated tokens
        are shown in bold.
    """
    if not views:
        raise ValueError("no token views to draw: pass at least one TokenScores")
    z, text, hover, ylabels = [], [], [], []
    for v_index, view in enumerate(views):
        n_rows = max(1, -(-len(view.tokens) // width))
        for r in range(n_rows):
            cells = range(r * width, min((r + 1) * width, len(view.tokens)))
            pad = width - len(cells)
            z.append([view.scores[i] for i in cells] + [None] * pad)
            text.append([(f"<b>{html.escape(shown(view.tokens[i]))}</b>" if i >= view.answer_start
                          else html.escape(shown(view.tokens[i]))) for i in cells] + [""] * pad)
            hover.append([f"{html.escape(repr(view.tokens[i]))} (token {i}): P(true) {view.scores[i]:.3f}"
                          for i in cells] + [""] * pad)
            name = view.label if len(view.label) <= 40 else view.label[:37] + "..."
            ylabels.append(f"{v_index}: {html.escape(name)}" if r == 0 else f"{v_index}: …{r}")
    fig = go.Figure(go.Heatmap(z=z, x=list(range(width)), y=ylabels, text=text, customdata=hover,
                               texttemplate="%{text}", textfont={"size": 11}, zmin=0, zmax=1, zmid=0.5,
                               colorscale="RdBu", colorbar={"title": "P(true)"},
                               hovertemplate="%{customdata}<extra></extra>", xgap=2, ygap=2))
    layer = views[0].layer
    fig.update_layout(title=title or f"Probe P(true) per token (layer {layer})", height=max(300, 150 + 32 * len(z)),
                      plot_bgcolor="white",
                      yaxis={"autorange": "reversed", "type": "category"},
                      xaxis={"showticklabels": False, "showgrid": False, "zeroline": False})
    return fig
