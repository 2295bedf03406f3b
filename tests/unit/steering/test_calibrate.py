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


def test_an_answer_that_leaves_the_prompts_script_is_caught():
    from veracity.steering.calibrate import _script_kept

    assert _script_kept("What is the capital of France?", "The capital of France is Paris.")
    assert not _script_kept("What is the capital of France?", "L'Étoile, la Cité, la Ville…")
    assert _script_kept("Quelle est la capitale de l'État ?", "Paris, évidemment")  # an accented prompt: no check


def test_the_answer_check_is_recorded_and_never_raises_the_coefficient(tiny):
    from veracity.steering.calibrate import ANSWER_TOLERANCE, answers_kept

    model = tiny("llama")
    vector = SteeringVector({1: torch.randn(64)}, model_id=model.model_id)
    c, record = answers_kept(model, vector, 2.0, n_questions=4, max_halvings=1)
    assert c <= 2.0 and record["coefficient"] == c and record["tolerance"] == ANSWER_TOLERANCE
    assert record["unsteered"]["coefficient"] == 0.0 and record["tries"][0]["coefficient"] == 2.0
    kept = record["tries"][-1]
    assert c == 0.0 or (kept["accuracy"] >= record["unsteered"]["accuracy"] - ANSWER_TOLERANCE
                        and kept["same_script"] >= record["unsteered"]["same_script"] - ANSWER_TOLERANCE)
    calibrated = with_calibrated_coefficient(model, vector, texts=TEXTS, check_answers=True)
    calibration = calibrated.extra["coefficient_calibration"]
    assert calibrated.coefficient == calibration["coefficient"] <= calibration["coefficient_kl"]
    assert "answers" in calibration and "answers" not in with_calibrated_coefficient(
        model, vector, texts=TEXTS).extra["coefficient_calibration"]
