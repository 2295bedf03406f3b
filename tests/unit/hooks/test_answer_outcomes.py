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


@pytest.mark.parametrize("answer, twin", [
    ("The capital of Brazil is Brasilia.", "The capital of Brazil is São Paulo."),  # right -> its first decoy
    ("The capital of Brazil is Rio de Janeiro.", "The capital of Brazil is Brasilia."),  # wrong -> the reference
    ("Bristol", "Brasilia"),
    ("Brasilia, a planned city.\nIt was built in 1960.", "São Paulo, a planned city.\nIt was built in 1960."),
    ("Brazil is a country in South America.", None),  # an evasion has no twin
])
def test_a_twin_swaps_the_answer_and_reads_the_other_way(answer, twin, names):
    from veracity.data.answers import flip_answer

    item = next(i for i in capital_questions().items if i.question == "What is the capital of Brazil?")
    assert flip_answer(item, answer, names) == twin
    if twin is not None:
        assert {classify_answer(item, answer, names), classify_answer(item, twin, names)} == {"correct", "wrong"}


def test_a_number_twin_is_the_reference_or_one_more():
    from veracity.data.answers import flip_answer

    item = QAItem("What is 8 + 6?", ("14",), "number", "add_1d")
    assert flip_answer(item, "8 + 6 = 14.") == "8 + 6 = 15."
    assert flip_answer(item, "The answer is 41") == "The answer is 14"
    assert flip_answer(item, "To add 8 and 6, we need to find") is None
