"""The CalibratedMath-style generator: graded sub-tasks, right answers, deterministic for a seed."""

import re

import pytest

from veracity.data import MATH_TASKS, calibrated_math, grade


def _solve(question: str) -> int:
    """Work the question out independently of the generator, from its text alone."""
    numbers = [int(n) for n in re.findall(r"\d+", question)]
    if "rounded to the nearest ten" in question:
        return (numbers[0] + 5) // 10 * 10
    if "remainder" in question:
        return numbers[0] % numbers[1]
    if "comes next" in question:
        return numbers[-1] + (numbers[1] - numbers[0])
    if "squared" in question:
        return numbers[0] ** 2
    if "divided by" in question:
        return numbers[0] // numbers[1]
    a, b = numbers
    return {"+": a + b, "-": a - b, "times": a * b}[re.search(r"(\+|-|times)", question).group(1)]


def test_every_answer_is_right_and_every_item_records_its_sub_task():
    data = calibrated_math(n_per_task=15, seed=3)
    assert [item.category for item in data.items[::15]] == list(MATH_TASKS)
    for item in data.items:
        assert int(item.answers[0]) == _solve(item.question), item
        assert item.kind == "number" and item.difficulty == list(MATH_TASKS).index(item.category)
        assert grade(item, f"The answer is {item.answers[0]}.")
    assert len(set(data.questions)) == len(data)  # no question asked twice


def test_deterministic_for_a_seed_and_each_sub_task_its_own():
    assert calibrated_math(5, seed=1).questions == calibrated_math(5, seed=1).questions
    assert calibrated_math(5, seed=1).questions != calibrated_math(5, seed=2).questions
    alone = calibrated_math(5, seed=1, tasks=["multiply_2d"]).questions
    assert alone == [i.question for i in calibrated_math(5, seed=1).items if i.category == "multiply_2d"]


def test_bad_arguments_say_what_to_do():
    with pytest.raises(ValueError, match="unknown sub-task 'integrals': choose from add_1d"):
        calibrated_math(5, tasks=["integrals"])
    with pytest.raises(ValueError, match="n_per_task must be a positive integer"):
        calibrated_math(0)
