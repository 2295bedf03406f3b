"""Cross-model P(IK): the joint split and the real run on both embedded models at a small size."""

from __future__ import annotations

import numpy as np
import pytest

from veracity.experiments.knowing.pik_cross import joint_split
from veracity.experiments.knowing.pik_parts import NotEnoughOutcomes


def test_joint_split_keeps_every_pair_of_outcomes_on_both_sides():
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 2, 60), rng.integers(0, 2, 60)
    train, test = joint_split(a, b, 0.3, seed=1)
    assert not set(train) & set(test) and len(train) + len(test) == 60
    for side in (train, test):
        assert set(2 * a[side] + b[side]) == {0, 1, 2, 3}
    with pytest.raises(NotEnoughOutcomes, match="model B got 60 of 60"):
        joint_split(a, np.ones(60, dtype=int), 0.3, seed=1)
