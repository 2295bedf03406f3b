"""veracity.data.answers: a wrong answer that names something is told apart from an evasion."""

import pytest

from veracity.data import QAItem, capital_questions, grade
from veracity.data.answers import answer_names, classify_answer

ZAMBIA = QAItem("What is the capital of Zambia?", ("Lusaka",), "text", "capital", echo="of Zambia",
                decoys=("Kitwe", "Ndola"))
SUM = QAItem("What is 7 + 5?", ("12",), "number", "add_1d")


@pytest.fixture(scope="module")
def names():
    return answer_names(capital_questions())


@pytest.mark.parametrize("response, outcome", [
    ("Lusaka", "correct"),
    ("The capital of Zambia is Lusaka.", "correct"),
    ("Kitwe", "wrong"),                                        # a decoy
    ("The capital of Zambia is Johannesburg, I believe.", "wrong"),  # a real city in a sentence
    ("The capital of Zambia is Hoi An.", "wrong"),             # a short name the question lacks
    ("Kastroi", "wrong"),                                      # an invented answer is still an answer
    ("The capital of Zambia is Zambia.", "evasion"),
    ("Zambia is a country in East Africa.", "evasion"),
    ("Zambia is a continent located in Southern Africa.", "evasion"),
    ("10000000000", "evasion"),
    ("I don't know.", "evasion"),
    ("", "evasion"),
])
def test_text_answers(response, outcome, names):
    assert classify_answer(ZAMBIA, response, names) == outcome


@pytest.mark.parametrize("response, outcome", [
    ("12", "correct"), ("13", "wrong"), ("It is 7 + 5 = 14", "wrong"),
    ("Twelve-ish, I think", "evasion"), ("I don't know", "evasion"),
    ("To add 7 and 5, we need to find", "evasion"),   # working cut off before its result answers nothing
    ("7 + 5 = 7 +", "evasion"),
    ("5", "wrong"), ("The answer is 7.", "wrong"), ("7 + 5 = 5", "wrong"),  # an operand given as the result
])
def test_number_answers(response, outcome):
    assert classify_answer(SUM, response) == outcome


def test_other_spellings_and_seats_of_government_are_right():
    by_country = {item.echo: item for item in capital_questions().items}
    assert grade(by_country["of Ukraine"], "Kiev") and grade(by_country["of South Africa"], "Cape Town")
    assert not grade(by_country["of Ukraine"], "Kharkiv")
    assert all(not grade(item, d) for item in by_country.values() for d in item.decoys)
