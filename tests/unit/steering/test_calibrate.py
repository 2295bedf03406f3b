"""The suggested coefficient: the largest that keeps the neutral-text KL under the bound."""

import torch

from veracity.steering import KL_BOUND, SteeringVector, calibrate_coefficient, honesty_vector
from veracity.steering.calibrate import neutral_kl, with_calibrated_coefficient

TEXTS = ("the city of paris is in france .", "hello world , it is one two three .", "what is larger than ten ?")


def test_calibrated_coefficient_sits_at_the_bound(tiny):
    model = tiny("llama")
    vector = SteeringVector({1: torch.randn(64), 2: torch.randn(64)}, model_id=model.model_id)
    # A random tiny model's KL saturates low (its final norm undoes large shifts): bound below that.
    bound = neutral_kl(model, vector, 1e3, TEXTS) / 4
    c, curve = calibrate_coefficient(model, vector, kl_bound=bound, texts=TEXTS)
    assert c > 0 and len(curve) > 5
    assert neutral_kl(model, vector, c, TEXTS) <= bound < neutral_kl(model, vector, 1.1 * c, TEXTS)
    calibrated = with_calibrated_coefficient(model, vector, kl_bound=bound, texts=TEXTS)
    assert calibrated.coefficient == c and calibrated.extra["coefficient_calibration"]["kl_bound"] == bound
    assert with_calibrated_coefficient(model, vector, texts=TEXTS).extra["coefficient_calibration"][
        "kl_bound"] == KL_BOUND
    # A vector twice as long gets half the coefficient: the bound is on the shift, not the number.
    c2, _ = calibrate_coefficient(model, 2 * vector, kl_bound=bound, texts=TEXTS)
    torch.testing.assert_close(torch.tensor(c2), torch.tensor(c / 2), rtol=1e-2, atol=0)


def test_builders_set_a_calibrated_coefficient_that_survives_export(tiny, tmp_path):
    from veracity.steering import from_gguf, to_gguf

    model = tiny("llama")
    vector = honesty_vector(model, ["the city of paris is in france .", "tokyo is in japan ."], layers=[1, 2])
    assert vector.coefficient != 1.0 and "coefficient_calibration" in vector.extra
    assert from_gguf(to_gguf(vector, tmp_path / "h.gguf")).coefficient == vector.coefficient
