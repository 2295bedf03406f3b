"""organism_steering: the vector never sees a question's topic, bad settings, and a small dose-response run."""


import pytest

from veracity.experiments.deception import organism_steering as study


def test_the_vector_is_built_from_true_statements_of_another_topic():
    statements = study.statements_for_vector(study.Config(n_statements=12))
    assert len(statements) == 12 and len(set(statements)) == 12
    assert all("larger than" in s and "capital" not in s for s in statements)
    assert study.statements_for_vector(study.Config(n_statements=12, seed=1)) != statements


@pytest.mark.parametrize("argv, message", [
    (["--coefficients", "0.5,1"], "must include 0"), (["--coefficients", "a,b"], "comma-separated numbers"),
    (["--adapter", "no/such/folder"], "--adapter: no adapter folder at no/such/folder: pass the folder that train_lora"),
    (["--layer", "mid"], "--layer must be"),
])
def test_bad_settings_fail_before_any_model_loads(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        study.main(argv)
    assert exit_info.value.code == 2 and message in capsys.readouterr().err
