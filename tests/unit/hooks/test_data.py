"""Statement datasets: the built-in cities and the CSV / JSONL loader's errors."""

import pytest

from veracity.data import load_statements


def test_builtin_cities_are_balanced_and_true_facts():
    cities = load_statements("cities")
    assert len(cities) == 800 and cities.labels.mean() == 0.5
    assert cities.statements[0] == "The city of Shanghai is in China." and cities.labels[0] == 1
    for statement, label, country, correct in zip(cities.statements, cities.labels, cities.extra["country"],
                                                  cities.extra["correct_country"]):
        assert statement.endswith(f" is in {country}.")
        assert label == int(country == correct)


def test_negated_cities_flip_labels():
    cities, negated = load_statements("cities"), load_statements("neg_cities")
    assert negated.statements[0] == "The city of Shanghai is not in China."
    assert (negated.labels == 1 - cities.labels).all()


def test_csv_and_jsonl(tmp_path):
    csv_path = tmp_path / "facts.csv"
    csv_path.write_text('statement,label,topic\n"Paris, the capital, is in France.",1,geo\nIce is hot.,0,phys\n')
    ds = load_statements(csv_path)
    assert ds.statements == ["Paris, the capital, is in France.", "Ice is hot."]
    assert ds.labels.tolist() == [1, 0] and ds.extra["topic"] == ["geo", "phys"] and ds.name == "facts"
    jsonl = tmp_path / "facts.jsonl"
    jsonl.write_text('{"statement": "Water is wet.", "label": true}\n{"statement": "Fire is cold.", "label": "false"}\n')
    assert load_statements(jsonl).labels.tolist() == [1, 0]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("statement,label\n", "has no rows"),
        ("", "has no rows"),
        ("text,label\nIce is hot.,0\n", "has no 'statement' column \\(columns: text, label\\)"),
        ("statement,label\nIce is hot.,maybe\n", "row 1: label 'maybe' is not binary"),
        ("statement,label\nIce is hot.,0\nParis, France is nice.,1\n", "line 3: 3 fields where the header has 2"),
        ("statement,label\nIce is hot.\n", "line 2: 1 field where the header has 2"),
    ],
)
def test_bad_files_say_what_to_do(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(ValueError, match=message):
        load_statements(path)


def test_missing_file_names_the_builtins(tmp_path):
    with pytest.raises(FileNotFoundError, match="cities"):
        load_statements(tmp_path / "nope.csv")


def test_shared_geometry_of_truth_csvs_load(shared_datasets):
    for name in ("cities", "neg_cities", "larger_than", "sp_en_trans"):
        ds = load_statements(shared_datasets / "geometry_of_truth" / f"{name}.csv")
        assert set(ds.labels.tolist()) == {0, 1} and len(ds) > 300


def test_csv_files_with_a_byte_order_mark_read_like_any_other(tmp_path):
    from veracity.data import load_questions_csv, load_statements

    (tmp_path / "s.csv").write_text("\ufeffstatement,label\nParis is in France.,1\nParis is in Peru.,0\n", encoding="utf-8")
    data = load_statements(tmp_path / "s.csv")
    assert data.statements == ["Paris is in France.", "Paris is in Peru."] and list(data.labels) == [1, 0]
    (tmp_path / "q.csv").write_text("\ufeffquestion,answer\nWhat is 2+2?,4\n", encoding="utf-8")
    assert load_questions_csv(tmp_path / "q.csv").items[0].answers == ("4",)


def test_extract_command_reads_a_csv_with_a_byte_order_mark(tmp_path):
    from veracity.cli import read_texts

    (tmp_path / "t.csv").write_text("\ufeffstatement,label\n\"Paris, France\",1\n", encoding="utf-8")
    assert read_texts(str(tmp_path / "t.csv"), "statement") == ["Paris, France"]
