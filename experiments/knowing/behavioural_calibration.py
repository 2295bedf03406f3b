"""Behavioural calibration, trained: answer only when the chance of being right exceeds the stated target.

    veracity run behavioural_calibration --out artifacts/behavioural_calibration

"Why Language Models Hallucinate" (Kalai et al. 2025) proposes stating a confidence target t in the
prompt (a right answer scores +1, a wrong one -t/(1-t), "I don't know" 0) and asks for behavioural
calibration: answer exactly when the chance of being right exceeds t. Told a target, the untrained
model never abstains (``veracity run abstention``). Here a LoRA adapter is trained on the training
questions, each under every ``--train-targets`` t in the target prompt of ``abstention``: the
completion is an answer when the model's own chance of being right on it (its greedy answer and ``--k``
samples, graded) exceeds t, and "I don't know." otherwise (with ``--answer-with own``, the default, the model's
own greedy answer, so the adapter learns when to answer rather than new answers; trained on the true answers
the fine-tune cost a third of the model's accuracy); at t = 0 every
question is answered (a wrong answer costs nothing there, so abstaining never scores more, and a
question none of the model's tries got right may still be right: trained to abstain there, the
first version abstained on 97% of questions even at t = 0). With ``--distil-questions N``, N more questions from
the same QA sets (another seed, none of the study's) are answered by the model under the neutral prompt and trained
under the t = 0 target prompt with that answer (context distillation, meant to teach the adapter to answer as it
would without a target, where the stated target derails a base model's answers; on Gemma 3 270M 200 such questions did
not: docs/results.md). With ``--kl W`` a KL term keeps the model as it was on the training questions under the
neutral prompt (no target stated), each followed by its own greedy answer. On the held-out questions, at every
``--targets`` t: the abstention rate, the accuracy when answering and the expected score (question-resampled 95%
intervals) of the trained model told t, the untrained model told t, the P(IK)-head gate of ``abstention`` (answer
when P(IK) > t; the head fitted on the training questions) and always answering; and the trained model's greedy accuracy under the neutral prompt beside
the untrained one's (what the fine-tune did to the answers themselves). Writes ``results.json``, ``answers.jsonl``,
``adapter/`` and ``report.html``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import ClassVar

import numpy as np
import plotly.graph_objects as go

from veracity.atomic import atomic_write_text
from veracity.constraints import Interval
from veracity.data import QADataset
from veracity.data.chat import own_answer, reply_text
from veracity.experiments.cli import study_main
from veracity.experiments.knowing.pik_parts import PIKConfig, answer_split_and_fit, build_questions, training_target
from veracity.experiments.knowing.targets import gate, prompted_run, scores, target_prompts
from veracity.experiments.report import table_html, write_report
from veracity.experiments.results import Results, study_results
from veracity.hooks import train_lora
from veracity.hooks.generation import answer_and_grade, generate, qa_prompts
from veracity.probes.evaluation import ci_text, mean_estimate

logger = logging.getLogger(__name__)

ABSTAIN_REPLY = "I don't know."
METHODS = ("trained", "untrained", "p_ik_gate", "always_answer")


@dataclass(kw_only=True)
class Config(PIKConfig):
    """Settings of the behavioural-calibration study. Every option of ``veracity run pik``, plus:

    Attributes:
        targets: Confidence targets t in [0, 1) of the evaluation: a wrong answer costs t/(1-t), "I don't know" 0.
        train_targets: Confidence targets t in [0, 1) stated in the training prompts (each training question under
            each).
        rank: LoRA rank.
        alpha: LoRA alpha.
        epochs: Passes over the training examples.
        lr: LoRA learning rate.
        train_batch_size: Examples per optimiser step.
        answer_with: What the adapter says where it answers: ``own`` (the model's own greedy answer, so that it
            learns when to answer and keeps its answers) or ``truth`` (the question's true answer).
        distil_questions: Extra questions (the same QA sets drawn with another seed, none of the study's) answered
            by the model under the neutral prompt and trained under the t = 0 target prompt with that answer; 0 = none.
        kl: Weight of a KL term to the untrained model on the training questions under the neutral prompt, each
            followed by the model's own greedy answer (``train_lora(kl_texts=)``): where no target is stated the
            adapter should change nothing; 0 = off.
    """

    study = "behavioural_calibration"

    targets: list[float] = field(default_factory=lambda: [0.0, 0.5, 0.75, 0.9])
    train_targets: list[float] = field(default_factory=lambda: [0.0, 0.25, 0.5, 0.75, 0.9])
    rank: int = 8
    alpha: float = 16.0
    epochs: int = 2
    lr: float = 1e-3
    train_batch_size: int = 8
    answer_with: str = "own"
    distil_questions: int = 0
    kl: float = 0.0

    constraints: ClassVar[dict] = {"rank": [Interval(int, 1)], "epochs": [Interval(int, 1)],
                                   "distil_questions": [Interval(int, 0)], "kl": [Interval(float, 0)],
                                   "train_batch_size": [Interval(int, 1)],
                                   "lr": [Interval(float, 0, closed="neither")]}

    def __post_init__(self):
        super().__post_init__()
        for name in ("targets", "train_targets"):
            values = getattr(self, name)
            if not values or any(not 0 <= t < 1 for t in values):
                raise ValueError(f"--{name.replace('_', '-')} must be numbers in [0, 1), got {values}")
        if self.k < 1:
            raise ValueError("--k must be >= 1: the chance of being right is read from the model's own samples")
        if self.answer_with not in ("own", "truth"):
            raise ValueError(f"--answer-with must be own or truth, got {self.answer_with!r}")
        if self.distil_questions and self.questions:
            raise ValueError("--distil-questions draws from the built-in QA sets; with --questions leave it at 0")


def training_examples(model, data, chance: np.ndarray, train: np.ndarray, config: Config,
                      own: list[str] | None = None) -> tuple[list[str], list[str]]:
    """Each training question under each training target: an answer where ``chance`` exceeds t (always at t = 0,
    where a wrong answer costs nothing), else abstain. The answer is the model's own (``own``, its greedy answers,
    with ``--answer-with own``; :func:`own_answer`: without a chat template the first line) or the true one."""
    if config.answer_with == "own" and own is None:
        raise ValueError("--answer-with own needs the model's own answers")
    prompts, completions = [], []
    for t in config.train_targets:
        subset = data.subset(train)
        prompts += target_prompts(model, subset, t)
        said = [own_answer(model.tokenizer, own[i]) if config.answer_with == "own" else item.answers[0]
                for i, item in zip(train.tolist(), subset.items)]
        completions += [reply_text(model.tokenizer, answer if chance[i] > t or t == 0 else ABSTAIN_REPLY)
                        for i, answer in zip(train.tolist(), said)]
    return prompts, completions


def distil_set(data: QADataset, config: Config) -> QADataset:
    """``config.distil_questions`` questions of the same QA sets, drawn with another seed (four times the study's
    questions per arithmetic level, every capital), none of them (by text) one of ``data``'s; one line if the sets hold
    too few."""
    pool = build_questions(replace(config, seed=config.seed + 1, n=0, n_capitals=0, n_per_level=4 * config.n_per_level))
    keep, seen = [], set(data.questions)
    for i, question in enumerate(pool.questions):
        if question not in seen:
            keep.append(i)
            seen.add(question)
    if len(keep) < config.distil_questions:
        raise ValueError(f"--distil-questions {config.distil_questions}: the QA sets hold only {len(keep)} questions "
                         "outside the study; ask for fewer")
    return pool.subset(keep).sample(config.distil_questions, config.seed)


def distil_examples(model, extra: QADataset, config: Config) -> tuple[list[str], list[str]]:
    """``extra`` (:func:`distil_set`'s questions) under the t = 0 target prompt, each completed by the model's own answer
    under the neutral prompt (:func:`own_answer`)."""
    said = [a[0] for a in generate(model, qa_prompts(model, extra), max_new_tokens=config.max_new_tokens,
                                   batch_size=config.batch_size, seed=config.seed)]
    return target_prompts(model, extra, 0.0), [reply_text(model.tokenizer, own_answer(model.tokenizer, a)) for a in said]


def neutral_texts(model, data: QADataset, rows: np.ndarray, greedy: list[str]) -> list[str]:
    """The questions of ``rows`` under the neutral prompt, each followed by the model's own greedy answer
    (:func:`own_answer`): the texts of ``--kl``, on which the adapter should leave the model as it was."""
    prompts = qa_prompts(model, data.subset(rows))
    return [p + reply_text(model.tokenizer, own_answer(model.tokenizer, greedy[i]))
            for p, i in zip(prompts, rows.tolist(), strict=True)]


def abstain_share(completions: list[str]) -> float:
    """The share of training completions that abstain (a plain prompt's completion starts with a space)."""
    return float(np.mean([c.strip().startswith(ABSTAIN_REPLY) for c in completions]))


def _figures(answered: np.ndarray, correct: np.ndarray, t: float, seed: int) -> dict:
    """Abstention rate, accuracy when answering (None without answers) and expected score, with intervals."""
    return {"abstention_rate": mean_estimate((~answered).astype(float), seed),
            "accuracy_when_answering": mean_estimate(correct[answered].astype(float), seed) if answered.any() else None,
            "expected_score": mean_estimate(scores(correct, answered, t), seed)}


def run(config: Config, model=None) -> Results:
    """Sample, train the adapter, score every method at every target on held-out questions; write the outputs."""
    out = Path(config.out)
    # drawn before any model loads, so that sets too small for --distil-questions fail in one line, not after answering
    extra = distil_set(build_questions(config), config) if config.distil_questions else None
    model = model or config.load_model()
    data, graded, train, test, layer, acts, head = answer_split_and_fit(model, config)
    chance = training_target(graded, "mixed")  # greedy answer and samples, graded: the chance of being right
    prompts, completions = training_examples(model, data, chance, train, config, own=graded.greedy)
    if extra is not None:
        extra_prompts, extra_completions = distil_examples(model, extra, config)
        prompts, completions = prompts + extra_prompts, completions + extra_completions
    logger.info("training on %d examples (%.0f%% abstentions)", len(prompts), 100 * abstain_share(completions))
    keep = neutral_texts(model, data, train, graded.greedy) if config.kl else []
    losses = train_lora(model, prompts, completions, out / "adapter", rank=config.rank, alpha=config.alpha,
                        epochs=config.epochs, lr=config.lr, batch_size=config.train_batch_size, seed=config.seed,
                        kl_texts=keep, kl_weight=config.kl)
    tuned = config.load_model(adapter=out / "adapter")
    told = {"trained": prompted_run(tuned, data, test, config), "untrained": prompted_run(model, data, test, config)}
    p_ik, correct = head.predict_true(acts)[test], graded.correct[test]
    # the trained model without a target stated: what the fine-tune did to the answers themselves
    plain = answer_and_grade(tuned, data.subset(test), k=0, max_new_tokens=config.max_new_tokens,
                             batch_size=config.batch_size, seed=config.seed)
    headline = {"accuracy_untrained_neutral": mean_estimate(correct.astype(float), config.seed),
                "accuracy_trained_neutral": mean_estimate(plain.correct.astype(float), config.seed)}
    table = []
    for j, t in enumerate(config.targets):
        rows = {name: (~told[name][j]["abstained"], told[name][j]["correct"]) for name in told}
        rows["p_ik_gate"] = (gate(p_ik, correct, "p_ik", t), correct)
        rows["always_answer"] = (np.ones(len(test), dtype=bool), correct)
        for name, (answered, right) in rows.items():
            figures = _figures(answered, right, t, config.seed)
            headline.update({f"{key}_{name}_t{t:g}": value for key, value in figures.items() if value is not None})
            table.append({"method": name, "target": t, **figures})
    results = study_results(
        "behavioural_calibration", tuned, config, headline, tables={"methods": table}, layer=layer,
        n_questions=len(data), n_train=len(train), n_test=len(test), accuracy_test=float(correct.mean()),
        training={"examples": len(prompts), "kl_texts": len(keep), "steps": len(losses), "loss_first": losses[0],
                  "loss_last": losses[-1], "abstain_share": abstain_share(completions)},
        rule="trained to answer when its chance of being right (greedy answer and samples, graded) exceeds the stated "
             "t, else \"I don't know.\"; score +1 right, -t/(1-t) wrong, 0 abstained; held-out questions")
    results.write(out)
    _write_answers(out / "answers.jsonl", data, test, told, config.targets,
                   {"neutral_answer": [graded.greedy[i] for i in test], "neutral_correct": correct.tolist(),
                    "p_ik": p_ik.tolist(), "trained_neutral_answer": plain.greedy,
                    "trained_neutral_correct": plain.correct.tolist()})
    write_behaviour_report(out / "report.html", results)
    return results


def _write_answers(path: Path, data, test: np.ndarray, told: dict, targets, gate_columns: dict) -> None:
    """One line per held-out question: every method's reply at every target, and what the P(IK) gate reads (the
    greedy answer under the neutral prompt, its grade, the head's P(IK)) and the trained model's neutral answer."""
    lines = []
    for j, i in enumerate(test.tolist()):
        row = {"question": data.items[i].question, "references": list(data.items[i].answers),
               **{f"{name}_t{t:g}": told[name][k]["replies"][j] for name in told for k, t in enumerate(targets)},
               **{name: values[j] for name, values in gate_columns.items()}}
        lines.append(json.dumps(row, ensure_ascii=False) + "\n")
    atomic_write_text(path, "".join(lines))


def write_behaviour_report(path: Path, results: dict) -> None:
    """Expected score against the target per method (95% intervals), then the table."""
    fig, head = go.Figure(), results["headline"]
    rows = results.tables["methods"]
    for name in METHODS:
        mine = [r for r in rows if r["method"] == name]
        fig.add_scatter(x=[r["target"] for r in mine], y=[r["expected_score"]["value"] for r in mine],
                        mode="lines+markers", name=name, error_y={
                            "type": "data", "symmetric": False,
                            "array": [r["expected_score"]["ci"][1] - r["expected_score"]["value"] for r in mine],
                            "arrayminus": [r["expected_score"]["value"] - r["expected_score"]["ci"][0] for r in mine]})
    fig.add_hline(y=0, line_dash="dash", line_color="grey", annotation_text="always abstain")
    fig.update_layout(title="Expected score per held-out question against the stated confidence target", height=480,
                      xaxis_title="confidence target t (a wrong answer costs t/(1-t))", yaxis_title="expected score")
    shown = [{"method": r["method"], "target": r["target"], "abstention rate": ci_text(r["abstention_rate"]),
              "accuracy when answering": ci_text(r["accuracy_when_answering"]),
              "expected score": ci_text(r["expected_score"])} for r in rows]
    write_report(path, f"Behavioural calibration on {results['model']['id']}", [
        fig, f"<p>{results['n_test']} held-out questions of {results['n_questions']} (greedy accuracy under the "
             f"neutral prompt: {ci_text(head['accuracy_untrained_neutral'])} untrained, "
             f"{ci_text(head['accuracy_trained_neutral'])} trained); {results['training']['examples']} training "
             f"examples, {100 * results['training']['abstain_share']:.0f}% of them abstentions. Rule: {results['rule']}.</p>",
        table_html(shown),
    ])


def main(argv=None, model=None) -> Results:
    """Command-line entry point; returns the :class:`Results`."""
    return study_main(Config, run, argv, model=model)


if __name__ == "__main__":
    main()
