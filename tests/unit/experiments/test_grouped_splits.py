"""Every study splits by entity: a city, number or question never sits on both sides of a split."""

import numpy as np
import pytest

from veracity.data import StatementDataset, load_statements, negation_control, polarity_pairs
from veracity.probes.splits import grouped_split, grouped_splits


def test_a_city_true_and_false_statements_share_a_group_and_one_side():
    cities = load_statements("cities")
    groups = cities.groups()
    assert cities.group_column() == "city" and len(np.unique(groups)) == len(cities) // 2
    train, test = grouped_split(groups, 0.3, seed=0, labels=cities.labels)
    assert not set(groups[train]) & set(groups[test]) and len(train) + len(test) == len(cities)
    assert 0.4 < cities.labels[test].mean() < 0.6  # each city brings one true and one false statement


def test_larger_than_groups_by_its_first_number_and_any_column_can_be_named():
    numbers = load_statements("larger_than")
    assert numbers.group_column() == "n1" and numbers.groups()[0].startswith("n1:")
    by_country = load_statements("cities").groups("correct_country")
    assert by_country[0].startswith("correct_country:") and len(np.unique(by_country)) < 400


def test_rows_without_an_entity_column_are_their_own_groups_and_unknown_columns_fail():
    data = StatementDataset(["a", "b", "c"], [1, 0, 1], "plain")
    assert data.group_column() == "row" and len(set(data.groups())) == 3
    with pytest.raises(ValueError, match="has no such column"):
        load_statements("cities").groups("capital")


def test_datasets_that_name_the_same_city_hold_it_out_together():
    cities, negated = load_statements("cities"), load_statements("neg_cities")
    splits = grouped_splits({"cities": cities.groups(), "neg": negated.groups()}, 0.3, seed=1)
    (train_a, test_a), (train_b, test_b) = splits["cities"], splits["neg"]
    named_a, named_b = cities.groups(), negated.groups()
    assert not set(named_a[train_a]) & set(named_b[test_b])
    assert not set(named_b[train_b]) & set(named_a[test_a])


def test_polarity_pairs_carry_their_city_through_samples_and_controls():
    pairs = polarity_pairs("cities", n=100, seed=0)
    assert all(g.startswith("city:") for g in pairs.groups)
    for i in (0, 50):
        assert pairs.groups[i] == f"city:{pairs.affirmed[i].removeprefix('The city of ').split(' is in ')[0]}"
    assert np.array_equal(negation_control(pairs).groups, pairs.groups)
    train, test = grouped_split(pairs.groups, 0.3, seed=0, labels=pairs.labels)
    assert not set(pairs.groups[train]) & set(pairs.groups[test])


def test_the_best_layer_is_chosen_off_the_test_set():
    from veracity.probes.evaluation import best_layers
    from veracity.probes.splits import validation_split

    groups = np.repeat(np.arange(40), 2)
    labels = np.tile([0, 1], 40)
    train = np.arange(0, 56)  # the test rows (56-79) never reach the validation split
    fit, val = validation_split(groups, labels, train, seed=0)
    assert val is not None and not set(fit) & set(val) and set(fit) | set(val) == set(train)
    assert not set(groups[fit]) & set(groups[val])  # whole entities on each side
    records = [{"probe": "logistic", "layer": 3, "accuracy": 0.95, "validation_accuracy": 0.80},
               {"probe": "logistic", "layer": 7, "accuracy": 0.90, "validation_accuracy": 0.85}]
    assert best_layers(records, by="validation_accuracy")["logistic"]["layer"] == 7  # not the test set's 3
    assert validation_split(groups[:4], np.array([0, 0, 0, 1]), np.arange(4), seed=0)[1] is None  # too small
