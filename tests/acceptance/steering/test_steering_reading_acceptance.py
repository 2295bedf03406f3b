"""Reading vectors (RepE): PCA / mean difference parity, sign, honesty stimuli, probes as vectors."""

import pytest

from veracity.steering import (
    honesty_pairs,
)


@pytest.mark.slow
def test_honesty_pairs_use_the_chat_template(embedded):
    honest, dishonest = honesty_pairs(["Paris is in France."], embedded.tokenizer)[0]
    assert honest.startswith("<|im_start|>") and honest.endswith("<|im_start|>assistant\nParis is in France.")
    assert "a dishonest person" in dishonest
