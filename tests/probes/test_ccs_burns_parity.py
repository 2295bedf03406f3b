"""CCS as good as Burns et al.'s, seed after seed, on the embedded model's own contrast pairs.

Pairs are (negated statement, statement) of the cities (built in, and Geometry of Truth's when
../shared is present) at three layers; every seed draws its own split, grouped by city (a city's
statements never sit on both sides), and both probes see the same training pairs with 10 tries x
1000 full-batch AdamW epochs. Scored by held-out accuracy of either sign (Burns' metric: an
unsupervised probe's sign is arbitrary). ``pytest -m slow -s`` prints the table.
"""

import numpy as np
import pytest
import torch
from reference_ccs import fit_burns_ccs

from veracity.data import load_statements
from veracity.experiments.common.splits import grouped_split
from veracity.hooks import extract
from veracity.probes import CCS

LAYERS = (9, 15, 21)
SEEDS = range(5)


def either_sign_accuracy(p_true: np.ndarray, labels: np.ndarray) -> float:
    accuracy = float(((p_true > 0.5) == labels).mean())
    return max(accuracy, 1 - accuracy)


@pytest.mark.slow
@pytest.mark.parametrize("source", ["builtin", "geometry_of_truth"])
def test_ccs_matches_burns_reference_at_every_seed(source, embedded, request, tmp_path_factory):
    if source == "builtin":
        cities, negated = load_statements("cities"), load_statements("neg_cities")
    else:
        folder = request.getfixturevalue("shared_datasets") / "geometry_of_truth"
        cities, negated = load_statements(folder / "cities.csv"), load_statements(folder / "neg_cities.csv")
    cache = str(tmp_path_factory.mktemp("cache"))
    acts = [extract(embedded, data.statements, layers=list(LAYERS), cache=True, cache_dir=cache, progress=False)
            for data in (negated, cities)]
    pairs = torch.stack(acts, dim=1).float()  # (n, 2, layer, d_model): 0 = negation, 1 = statement
    labels, groups = cities.labels, cities.groups()
    ours, theirs = {}, {}
    for j, layer in enumerate(LAYERS):
        for seed in SEEDS:
            train, test = grouped_split(groups, 0.3, seed, labels=labels)
            assert not set(groups[train]) & set(groups[test])
            x = pairs[:, :, j]
            ours[layer, seed] = either_sign_accuracy(CCS(seed=seed).fit(x[train]).predict_true(x[test]), labels[test])
            theirs[layer, seed] = either_sign_accuracy(fit_burns_ccs(x[train], seed)(x[test]), labels[test])
    table = "\n".join(f"{source} layer {k[0]} seed {k[1]}: veracity {ours[k]:.3f}  burns {theirs[k]:.3f}" for k in ours)
    print(f"\n{table}\n{source} mean: veracity {np.mean(list(ours.values())):.3f}  "
          f"burns {np.mean(list(theirs.values())):.3f}")
    assert np.mean(list(ours.values())) >= np.mean(list(theirs.values())), table
    assert min(ours[k] - theirs[k] for k in ours) >= -0.05, table
    assert max(theirs[15, s] for s in SEEDS) > 0.7, f"the reference never found the truth direction\n{table}"
