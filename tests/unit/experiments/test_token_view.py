"""veracity.experiments.truth.token_view: per-token scores equal the probe on extract()'s activations; figures; CLI."""

import numpy as np
import plotly.graph_objects as go
import pytest
import torch

from veracity.experiments.truth import token_view
from veracity.experiments.truth.token_scores import TokenScores, score_answer, score_tokens, token_figure
from veracity.hooks import extract
from veracity.probes import LogisticProbe, MassMeanProbe

TEXT = "the city of paris is in france ."
TRAIN = ["the city of paris is in france .", "the city of rome is in italy .", "tokyo is in japan .",
         "the city of paris is in peru .", "the city of rome is in egypt .", "tokyo is in germany .",
         "lima is in peru .", "cairo is in egypt .", "lima is in japan .", "cairo is in italy ."]
LABELS = [1, 1, 1, 0, 0, 0, 1, 1, 0, 0]


@pytest.fixture
def fitted(tiny):
    model = tiny("llama")
    acts = extract(model, TRAIN, layers=[2], progress=False)[:, 0]
    probe = MassMeanProbe().fit(acts, LABELS).set_provenance(layer=2, model_id=model.model_id)
    return model, probe


def test_every_token_score_equals_the_probe_on_extract(fitted):
    model, probe = fitted
    view = score_tokens(model, probe, TEXT)
    n = len(view.tokens)
    assert n == len(model.tokenizer(TEXT)["input_ids"]) and view.layer == 2
    acts = extract(model, [TEXT] * n, layers=[2], position=list(range(n)), progress=False)[:, 0]
    torch.testing.assert_close(torch.from_numpy(view.scores), torch.from_numpy(probe.predict_true(acts)))
    assert view.answer_start == n and view.label == TEXT


def test_layer_argument_overrides_and_missing_layer_is_an_error(fitted):
    model, _ = fitted
    acts = extract(model, TRAIN, layers=[1], progress=False)[:, 0]
    bare = LogisticProbe(C=0.1).fit(acts, LABELS)
    with pytest.raises(ValueError, match="pass layer="):
        score_tokens(model, bare, TEXT)
    assert score_tokens(model, bare, TEXT, layer=1).layer == 1
    with pytest.raises(ValueError, match="out of range"):
        score_tokens(model, bare, TEXT, layer=9)


def test_score_answer_marks_the_generated_tokens(fitted):
    model, probe = fitted
    view = score_answer(model, probe, "which city is in france ?", max_new_tokens=5)
    prompt_len = len(model.tokenizer("which city is in france ?")["input_ids"])
    assert view.answer_start == prompt_len
    assert prompt_len < len(view.tokens) <= prompt_len + 5
    assert np.all((view.scores >= 0) & (view.scores <= 1))


def test_token_figure_wraps_rows_and_bolds_answers():
    views = [TokenScores(list("abcde"), np.linspace(0, 1, 5), 3, label="short"),
             TokenScores([f" t{i}" for i in range(20)], np.full(20, 0.5), 3, answer_start=18, label="long")]
    fig = token_figure(views, width=8)
    heat = fig.data[0]
    assert isinstance(heat, go.Heatmap)
    assert len(heat.z) == 1 + 3  # 5 tokens -> 1 row; 20 tokens -> 3 rows of 8
    assert heat.text[3][2] == "<b>·t18</b>" and heat.text[3][1] == "·t17"
    with pytest.raises(ValueError, match="at least one"):
        token_figure([])
    with pytest.raises(ValueError, match="one score per token"):
        TokenScores(["a"], np.zeros(2), 0)


def test_cli_writes_a_report(fitted, tmp_path, monkeypatch):
    model, probe = fitted
    probe.save(tmp_path / "probe")
    monkeypatch.setattr(token_view.TokenViewConfig, "load_model", lambda self, backend="hf": model)
    results = token_view.main(["--probe", str(tmp_path / "probe"), "--text", f"{TEXT} || tokyo is in peru .",
                             "--answer", "where is rome ?", "--max-new-tokens", "3", "--out", str(tmp_path)])
    assert results["texts"][:2] == [TEXT, "tokyo is in peru ."] and len(results["texts"]) == 3
    last = [r for r in results.tables["tokens"] if r["text"] == 1][-1]
    assert results.headline["p_true_last_token_text1"]["value"] == last["p_true"] and last["token"].strip() == "."
    assert any(r["generated"] for r in results.tables["tokens"] if r["text"] == 2)
    assert (tmp_path / "token_view.html").read_text().count('class="plotly-graph-div"') == 1


def test_cli_needs_something_to_read(tmp_path):
    with pytest.raises(SystemExit):
        token_view.main(["--probe", str(tmp_path / "probe")])


def test_cli_reports_a_missing_probe_in_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as done:
        token_view.main(["--probe", str(tmp_path / "nope"), "--text", "hello"])
    err = capsys.readouterr().err
    assert done.value.code == 2 and "not found: pass the path used with save" in err and err.count("\n") == 1
