"""Teaching a model to say how sure it is: verbalised confidence fine-tuned on its own accuracy.

    veracity run verbal_calibration --out artifacts/verbal_calibration

After Lin, Hilton and Evans (2022): the model answers CalibratedMath-style questions
(:func:`veracity.data.calibrated_math`); its greedy answers are graded; a LoRA adapter is trained
so that after its answer it states "Confidence: N%", where N is the target of that question. Two
variants of the target: ``empirical``, the model's own accuracy on the question's sub-task (over
the training questions), and ``pik``, a P(IK) head's reading of the question (fitted on the
training questions at ``--layer``). With ``--supervise confidence`` the loss falls on the stated
confidence alone and, at evaluation, the untrained model answers and the adapter only states the confidence after
that answer. The fine-tune sees only ``--train-tasks``; it is evaluated on
held-out questions of those sub-tasks (in distribution) and on ``--shift-tasks`` it never saw (the
shift). Beside the trained verbal confidence, on the same questions: the untrained model asked
how confident it is, the P(IK) head, P(True) asked in its own turn, a constant (the training
accuracy) and the empirical targets themselves (``sub_task_rate``: each question's sub-task
accuracy over the training questions, in distribution only), which a channel trained on them can at
best reproduce. ECE (10 equal-width bins), MCE and Brier, each with a question-resampled 95% interval,
and a reliability diagram for each. Does the probe agree? The correlation of the stated
confidence with a frozen P(IK) head's reading of each question, per layer.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from sklearn.model_selection import train_test_split

from veracity.atomic import atomic_write_text, check_writable_folder
from veracity.constraints import FRACTION, Interval, Options
from veracity.data import MATH_TASKS, calibrated_math, grade
from veracity.data.chat import own_answer, reply_text
from veracity.experiments.cli import study_main
from veracity.experiments.config import StudyConfig
from veracity.experiments.knowing.verbal_calibration_report import write_verbal_report
from veracity.experiments.knowing.verbal_confidence import verbal_confidence
from veracity.experiments.results import Results, study_results
from veracity.hooks import extract, train_lora
from veracity.hooks.convention import resolve_layers
from veracity.hooks.generation import generate, p_true, qa_prompts
from veracity.probes import PIKHead, bootstrap_ci, brier, ece, mce, reliability_diagram
from veracity.probes.evaluation import estimate

logger = logging.getLogger(__name__)

TRAIN_TASKS = "add_1d,subtract_1d,add_2d,multiply_1d,subtract_2d,add_3d,multiply_2dx1d,multiply_2d"
SHIFT_TASKS = "round_2d,next_in_sequence,divide_1d,square_2d,multiply_3d"
CONFIDENCE = re.compile(r"Confidence:\s*(\d{1,3})\s*%")
IN_DISTRIBUTION_ONLY = ("sub_task_rate",)
"""Read-outs defined only on the training sub-tasks (the shift's sub-tasks have no training accuracy)."""
SUPERVISE = ("reply", "confidence")
"""What the fine-tune's loss falls on (``--supervise``): the whole reply, or the stated confidence alone."""


@dataclass(kw_only=True)
class Config(StudyConfig):
    """Settings of the verbalised-calibration study.

    Attributes:
        n_per_task: Questions per sub-task.
        train_tasks: Comma-separated sub-tasks the fine-tune sees (veracity.data.MATH_TASKS).
        shift_tasks: Comma-separated sub-tasks held out entirely (the distribution shift).
        test_fraction: Fraction of each training sub-task's questions held out (in distribution).
        targets: Comma-separated target variants: empirical (sub-task accuracy), pik (the P(IK) head).
        layer: Layer of the P(IK) head; "auto" = 2/3 of the depth.
        rank: LoRA rank.
        epochs: Passes over the training examples.
        lr: LoRA learning rate.
        max_new_tokens: Tokens generated per answer at most (the trained model gets room for its confidence too).
        supervise: What the fine-tune's loss falls on: reply (the model's own answer and its confidence) or confidence
            (the stated confidence only: the answer is part of the training prompt; then the untrained model answers
            and the adapter only states the confidence after that answer, so the answers whose accuracy the targets
            are stay the untrained model's).
    """

    study = "verbal_calibration"

    n_per_task: int = 40
    train_tasks: str = TRAIN_TASKS
    shift_tasks: str = SHIFT_TASKS
    test_fraction: float = 0.3
    targets: str = "empirical,pik"
    layer: str = "auto"
    rank: int = 8
    epochs: int = 2
    lr: float = 1e-3
    max_new_tokens: int = 24
    supervise: str = "reply"

    constraints: ClassVar[dict] = {"n_per_task": [Interval(int, 4)], "test_fraction": [FRACTION],
                                   "rank": [Interval(int, 1)], "epochs": [Interval(int, 1)],
                                   "lr": [Interval(float, 0, closed="neither")], "max_new_tokens": [Interval(int, 4)],
                                   "supervise": [Options(*SUPERVISE)]}

    def __post_init__(self):
        super().__post_init__()
        for option in ("train_tasks", "shift_tasks"):
            unknown = [t for t in self.task_list(option) if t not in MATH_TASKS]
            if unknown or not self.task_list(option):
                raise ValueError(f"--{option.replace('_', '-')}: unknown {unknown or 'empty'}; choose from "
                                 f"{', '.join(MATH_TASKS)}")
        if set(self.task_list("train_tasks")) & set(self.task_list("shift_tasks")):
            raise ValueError("--train-tasks and --shift-tasks share a sub-task: the shift must be sub-tasks never "
                             "trained on")
        unknown = [t for t in self.target_list if t not in ("empirical", "pik")]
        if unknown or not self.target_list:
            raise ValueError(f"--targets: unknown {unknown or 'empty'}; choose from empirical, pik")
        if self.layer != "auto" and not self.layer.lstrip("-").isdigit():
            raise ValueError(f"--layer must be an int or 'auto', got {self.layer!r}")

    def task_list(self, option: str) -> list[str]:
        """The sub-tasks named by ``option``."""
        return [t.strip() for t in getattr(self, option).split(",") if t.strip()]

    @property
    def target_list(self) -> list[str]:
        """The requested target variants."""
        return [t.strip() for t in self.targets.split(",") if t.strip()]


def stated_confidence(reply: str) -> float:
    """The "Confidence: N%" a trained model states after its answer, in [0, 1] (NaN when absent or above 100)."""
    found = CONFIDENCE.search(reply)
    return float(found.group(1)) / 100 if found and int(found.group(1)) <= 100 else float("nan")


def answer_part(reply: str) -> str:
    """The answer before the stated confidence: the text before "Confidence:", also where no valid percentage
    follows it (a reply such as "14 Confidence: 6 Confidence: 6" answers 14)."""
    return reply.split("Confidence:", 1)[0].strip()


def completion(tokenizer, answer: str, confidence: float) -> str:
    """What the adapter learns to say: the model's own answer (:func:`own_answer`: without a chat template its first
    line), its target confidence, the end of the turn."""
    text = f"{own_answer(tokenizer, answer)} Confidence: {round(100 * confidence)}%"
    return reply_text(tokenizer, text)


def training_example(tokenizer, prompt: str, answer: str, confidence: float, supervise: str = "reply"
                     ) -> tuple[str, str]:
    """The fine-tune's prompt and completion for one question: the prompt then :func:`completion`, or with
    ``supervise="confidence"`` the reply's answer moved into the prompt, so that only "Confidence: N%" and the end of
    the turn carry the loss (the text the model sees is the same either way)."""
    reply = completion(tokenizer, answer, confidence)
    if supervise == "reply":
        return prompt, reply
    cut = reply.rindex(" Confidence: ")
    return prompt + reply[:cut], reply[cut:]


def trained_replies(tuned, prompts: list[str], answers: list[str], config: Config) -> list[str]:
    """The fine-tuned model's replies: answer and confidence in one go (``--supervise reply``), or (``confidence``) the
    untrained model's answer as it was in training, continued by the tuned model with its confidence only."""
    tokenizer = tuned.tokenizer
    if config.supervise == "reply":
        return [r[0] for r in generate(tuned, prompts, max_new_tokens=reply_budget(tokenizer, config.max_new_tokens),
                                       batch_size=config.batch_size, seed=config.seed)]
    heads = [training_example(tokenizer, p, a, 0.0, "confidence")[0] for p, a in zip(prompts, answers, strict=True)]
    said = generate(tuned, heads, max_new_tokens=reply_budget(tokenizer, 0), batch_size=config.batch_size,
                    seed=config.seed)
    # generate() strips what it decodes: the space that began " Confidence: ..." is put back between the two
    return [head[len(p):] + (" " + s[0] if s[0] else "") for p, head, s in zip(prompts, heads, said, strict=True)]


def reply_budget(tokenizer, max_new_tokens: int) -> int:
    """Tokens the trained model may generate: its training completions are the model's own answers (cut at
    ``max_new_tokens``) followed by the stated confidence, so it gets room for both (and two tokens of slack, since an
    answer re-tokenised after decoding can come out longer); at ``max_new_tokens`` alone an answer that ran to the
    limit would be cut before its confidence."""
    suffix = tokenizer(completion(tokenizer, "", 1.0), add_special_tokens=False)["input_ids"]
    return max_new_tokens + len(suffix) + 2


def calibration(probs: np.ndarray, correct: np.ndarray, groups: np.ndarray, seed: int) -> dict:
    """ECE, MCE and Brier of ``probs`` against correctness, each with a question-resampled 95% interval."""
    keep = np.isfinite(probs)
    p, y, g = probs[keep], correct[keep].astype(float), groups[keep]
    out = {"n": int(keep.sum()), "n_unparsed": int((~keep).sum())}
    if keep.sum() < 2:
        return out
    for name, metric in (("ece", ece), ("mce", mce), ("brier", brier)):
        out[name] = estimate(*bootstrap_ci(metric, p, y, n_boot=1000, seed=seed, groups=g))
    diagram = reliability_diagram(p, y, n_bins=10)
    out["diagram"] = {"confidence": np.nan_to_num(diagram.confidence).tolist(),
                      "frequency": np.nan_to_num(diagram.frequency).tolist(), "count": diagram.count.tolist()}
    return out


def run(config: Config, model=None) -> Results:
    """Answer, fit the P(IK) head, fine-tune per target variant, read every confidence; write the outputs."""
    out = check_writable_folder(config.out)
    trained_on, shifted = config.task_list("train_tasks"), config.task_list("shift_tasks")
    data = calibrated_math(config.n_per_task, config.seed, tasks=trained_on + shifted)
    model = model or config.load_model()
    prompts = qa_prompts(model, data)
    logger.info("[verbal 1/4] answering %d questions of %d sub-tasks", len(data), len(trained_on) + len(shifted))
    answers = [a[0] for a in generate(model, prompts, max_new_tokens=config.max_new_tokens,
                                      batch_size=config.batch_size, seed=config.seed)]
    correct = np.array([grade(item, a) for item, a in zip(data.items, answers, strict=True)])
    tasks = np.array([item.category for item in data.items])
    in_train = np.isin(tasks, trained_on)
    rows = np.flatnonzero(in_train)
    train, held = train_test_split(rows, test_size=config.test_fraction, stratify=tasks[rows], random_state=config.seed)
    train, sides = np.sort(train), {"in_distribution": np.sort(held), "shift": np.flatnonzero(~in_train)}
    layer = round(2 * model.n_layers / 3) if config.layer == "auto" else resolve_layers([int(config.layer)],
                                                                                        model.n_layers)[0]
    every = sorted({*range(0, model.n_layers, 3), layer})
    logger.info("[verbal 2/4] P(IK) heads at layers %s; the untrained model's verbal confidence and P(True)", every)
    acts = extract(model, prompts, layers=every, batch_size=config.batch_size, progress=False)
    heads = {lay: PIKHead(seed=config.seed).fit(acts[train, j], correct[train].astype(float))
             for j, lay in enumerate(every)}
    pik = {lay: heads[lay].predict_true(acts[:, j]) for j, lay in enumerate(every)}
    accuracy = {t: float(correct[train][tasks[train] == t].mean()) for t in trained_on}
    targets = {"empirical": np.array([accuracy.get(t, np.nan) for t in tasks]), "pik": pik[layer]}
    base_verbal = verbal_confidence(model, data, answers, batch_size=config.batch_size)[1]
    read = {"untrained_verbal": base_verbal, "pik_head": pik[layer],
            "p_true_own_turn": p_true(model, data, answers, batch_size=config.batch_size, own_turn=True),
            "constant": np.full(len(data), correct[train].mean()), "sub_task_rate": targets["empirical"]}
    outcome = {name: correct for name in read}
    training, said = {}, {}
    for variant in config.target_list:
        logger.info("[verbal 3/4] fine-tuning on %s targets (%d examples, %d epochs)", variant, len(train), config.epochs)
        examples = [training_example(model.tokenizer, prompts[i], answers[i], targets[variant][i], config.supervise)
                    for i in train]
        losses = train_lora(model, [e[0] for e in examples], [e[1] for e in examples], out / f"adapter_{variant}",
                            rank=config.rank, epochs=config.epochs, lr=config.lr, seed=config.seed)
        tuned = config.load_model(adapter=out / f"adapter_{variant}")
        logger.info("[verbal 4/4] the %s-trained model answers and states its confidence", variant)
        replies = trained_replies(tuned, prompts, answers, config)
        said[variant] = replies
        read[f"trained_verbal_{variant}"] = np.array([stated_confidence(r) for r in replies])
        outcome[f"trained_verbal_{variant}"] = np.array([grade(item, answer_part(r))
                                                         for item, r in zip(data.items, replies, strict=True)])
        training[variant] = {"steps": len(losses), "loss_first": losses[0], "loss_last": losses[-1],
                             "accuracy_after": float(outcome[f"trained_verbal_{variant}"][sides["in_distribution"]]
                                                     .mean())}
    results = summarise(model, config, data, read, outcome, sides, pik, train, accuracy, training)
    results.write(out)
    side_of = {int(i): side for side, rows in {"train": train, **sides}.items() for i in rows}
    atomic_write_text(out / "answers.jsonl", "".join(json.dumps(
        {"question": item.question, "sub_task": item.category, "split": side_of[i], "answer": answers[i],
         "correct": bool(correct[i]), **{name: _number(values[i]) for name, values in read.items()},
         **{f"reply_{variant}": replies[i] for variant, replies in said.items()}}) + "\n"
        for i, item in enumerate(data.items)))
    write_verbal_report(out / "report.html", results)
    return results


def summarise(model, config, data, read, outcome, sides, pik, train, accuracy, training) -> Results:
    """Headline ECE per read-out and side, the full calibration table, and the probe-agreement correlations."""
    groups = np.array(data.questions)
    headline, table = {}, []
    for name, probs in read.items():
        for side, rows in sides.items():
            if side == "shift" and name in IN_DISTRIBUTION_ONLY:
                continue
            figures = calibration(probs[rows], outcome[name][rows], groups[rows], config.seed)
            table.append({"read_out": name, "side": side, **figures})
            if "ece" in figures:
                headline[f"ece_{name}_{side}"] = figures["ece"]
    agreement = []
    for name in (n for n in read if n.startswith("trained_verbal")):
        rows = np.concatenate(list(sides.values()))
        stated = read[name][rows]
        keep = np.isfinite(stated)
        for layer, reading in pik.items():
            r = float(np.corrcoef(stated[keep], reading[rows][keep])[0, 1]) if keep.sum() > 2 and np.ptp(
                stated[keep]) > 0 else float("nan")
            agreement.append({"read_out": name, "layer": layer, "correlation_with_pik": r})
    return study_results(
        "verbal_calibration", model, config, headline, tables={"calibration": table, "agreement": agreement},
        n_questions=len(data), n_train=int(len(train)), n_test=int(len(sides["in_distribution"])),
        n_shift=int(len(sides["shift"])), accuracy_by_task=accuracy, training=training,
        rule="correct = the greedy answer (before any stated confidence) graded against the sub-task's answer; "
             "ECE over 10 equal-width bins; unparsed confidences are left out and counted")


def _number(value) -> float | None:
    return None if not np.isfinite(value) else float(value)


def main(argv=None, model=None) -> Results:
    """Command-line entry point; returns the :class:`Results`."""
    return study_main(Config, run, argv, model=model)


if __name__ == "__main__":
    main()
