"""Reading vectors (RepE), acceptance: on the embedded model at a small size
(the unit tests: tests/unit/steering/test_steering_reading.py)."""

import pytest

from veracity.steering import (
    honesty_pairs,
)


@pytest.mark.slow
def test_honesty_pairs_use_the_chat_template(embedded):
    honest, dishonest = honesty_pairs(["Paris is in France."], embedded.tokenizer)[0]
    assert honest.startswith("<|im_start|>") and honest.endswith("<|im_start|>assistant\nParis is in France.")
    assert "a dishonest person" in dishonest
