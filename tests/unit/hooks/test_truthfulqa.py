"""TruthfulQA from the authors' CSV (../shared/datasets): MC1, MC2, answer statements grouped by question."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.model_selection import GroupShuffleSplit

from veracity.data import load_truthfulqa


@pytest.fixture(scope="module")
def tqa(shared_datasets):
    return load_truthfulqa(shared_datasets / "truthfulqa" / "TruthfulQA.csv")


def test_the_authors_csv_loads_whole(tqa):
    assert len(tqa) == 813 and len(tqa.categories) == 38
    first = tqa.items[0]
    assert first.question == "Why do veins appear blue?" and first.kind == "Adversarial"
    assert first.best in first.correct and len(set(first.correct)) == len(first.correct)
    assert not set(first.correct) & set(first.incorrect)


def test_mc1_and_mc2_choices(tqa):
    for item in tqa.items:
        choices, true_index = item.mc1()
        assert true_index == 0 and choices[0] == item.best and choices[1:] == list(item.incorrect)
        choices, labels = item.mc2()
        assert sum(labels) == len(item.correct) and len(choices) == len(labels)
        assert [c for c, y in zip(choices, labels) if y] == list(item.correct)
    mc1_chance = np.mean([1 / len(item.mc1()[0]) for item in tqa.items])
    assert 0.15 < mc1_chance < 0.3  # the paper's "about 0.2-0.25" for MC1


def test_statements_are_grouped_by_question_and_a_group_split_keeps_them_apart(tqa):
    texts, labels, groups = tqa.statements()
    assert len(texts) == len(labels) == len(groups) == sum(len(item.mc2()[0]) for item in tqa.items)
    assert texts[0].startswith("Q: Why do veins appear blue?\nA: ")
    train, test = next(GroupShuffleSplit(n_splits=1, test_size=0.3, random_state=0).split(texts, labels, groups))
    assert not set(np.asarray(groups)[train]) & set(np.asarray(groups)[test])


def test_bad_files_are_one_line_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no TruthfulQA CSV at .*: pass the path"):
        load_truthfulqa(tmp_path / "none.csv")
    (tmp_path / "other.csv").write_text("statement,label\na,1\n")
    with pytest.raises(ValueError, match=r"lacks the TruthfulQA columns \['Type', 'Category', 'Question'"):
        load_truthfulqa(tmp_path / "other.csv")
    (tmp_path / "empty_answers.csv").write_text(
        "Type,Category,Question,Best Answer,Correct Answers,Incorrect Answers,Source\nA,B,Why?,Because,Because,,x\n")
    with pytest.raises(ValueError, match="row 2 has no question, best answer or incorrect answers"):
        load_truthfulqa(tmp_path / "empty_answers.csv")


def test_without_a_path_it_downloads_once_or_says_to_pass_one(tmp_path, monkeypatch):
    monkeypatch.setenv("VERACITY_HOME", str(tmp_path))
    try:
        tqa = load_truthfulqa()
    except OSError as err:  # offline, as in CI
        assert "\n" not in str(err) and str(err).endswith("pass the path of TruthfulQA.csv, load_truthfulqa(PATH)")
        assert not (tmp_path / "datasets" / "TruthfulQA.csv").exists()
    else:
        assert len(tqa) > 800 and (tmp_path / "datasets" / "TruthfulQA.csv").is_file()
