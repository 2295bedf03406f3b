"""Lie monitors on tiny random models: what they read, how they choose, calibrate, save and listen."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from veracity.hooks import count_hooks
from veracity.hooks.generation import generate
from veracity.monitors import (
    ConsistencyMonitor,
    Dialogue,
    FollowUpMonitor,
    InstructedPairsMonitor,
    OnPolicyMonitor,
    SelfReportMonitor,
    StatementMonitor,
    answer_activations,
    answer_tokens,
    instructed_pairs,
    load_monitor,
    monitor,
    yes_minus_no,
)

CITIES = ["paris", "tokyo", "rome", "berlin", "lima", "cairo"]
COUNTRIES = ["france", "japan", "italy", "germany", "peru", "egypt"]


def qa_dialogues(n: int, seed: int = 0, lie_rate: float = 0.5) -> list[Dialogue]:
    """Questions about cities; a lie names another city's country with the word "false" in it (a planted signal)."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        c = int(rng.integers(len(CITIES)))
        lie = bool(rng.random() < lie_rate)
        answer = f"{CITIES[c]} is in {COUNTRIES[(c + 1) % 6]} false" if lie else f"{CITIES[c]} is in {COUNTRIES[c]} ."
        out.append(Dialogue.ask(f"which country is {CITIES[c]} in ?", answer, lie=lie, group=f"q{seed}-{i}"))
    return out


def controls(n: int, seed: int) -> list[Dialogue]:
    rng = np.random.default_rng(seed)
    words = ["the", "city", "is", "a", "capital", "yes", "it", "was", "one", "two", "three", "and"]
    return [Dialogue.ask("what is it ?", " ".join(rng.choice(words, size=int(rng.integers(2, 6)))), lie=False)
            for _ in range(n)]


def test_a_dialogue_says_what_is_wrong_in_one_line():
    with pytest.raises(ValueError, match="without an answer"):
        Dialogue.ask("which country is paris in ?", "  ")
    with pytest.raises(ValueError, match="last message is the user's turn"):
        Dialogue((("user", "hi"), ("assistant", "hello")), "yes")
    with pytest.raises(ValueError, match="role in"):
        Dialogue((("narrator", "hi"),), "yes")
    with pytest.raises(ValueError, match="lie must be"):
        Dialogue.ask("q", "a", lie="yes")
    assert Dialogue([{"role": "user", "content": "q"}], "a").messages == (("user", "q"),)


def test_answer_activations_are_the_blocks_own_outputs_at_the_answer_tokens(tiny):
    model = tiny("llama")
    dialogues = qa_dialogues(5)
    rows = answer_tokens(model, dialogues)
    acts = answer_activations(model, dialogues, [1, 2], batch_size=2)  # (HF's last hidden state is after the norm)
    for (ids, start), got in zip(rows, acts, strict=True):
        assert got.shape == (len(ids) - start, 2, model.d_model)
        with torch.no_grad():
            hidden = model.hf_model(torch.tensor([ids]), output_hidden_states=True).hidden_states
        for j, layer in enumerate((1, 2)):
            torch.testing.assert_close(got[:, j], hidden[layer + 1][0, start:], rtol=1e-5, atol=1e-5)
    tail = model.tokenizer.decode(rows[0][0][rows[0][1]:])
    assert tail.split() == dialogues[0].answer.split()  # the answer's tokens, nothing of the prompt


def test_remembered_reads_run_each_dialogue_once_and_give_the_same_activations_steered_or_not(tiny):
    from veracity.monitors import remembered_reads
    from veracity.steering import SteeringVector, steer

    model = tiny("llama")
    dialogues = qa_dialogues(6)
    fresh = answer_activations(model, dialogues, [1, 2], batch_size=4)
    passes = []
    handle = model.blocks[0].register_forward_hook(lambda module, args, output: passes.append(len(args[0])))
    try:
        with remembered_reads():
            first = answer_activations(model, dialogues[:4], [1, 2], batch_size=4)
            again = answer_activations(model, dialogues, [2, 1], batch_size=4)  # 2 new dialogues, layers reordered
            rows_read = sum(passes)
            with remembered_reads():  # a nested block shares the outer one's reads
                inner = answer_activations(model, dialogues, [1], batch_size=4)
            assert sum(passes) == rows_read == 6  # every dialogue through the model once
            vector = SteeringVector({1: torch.ones(model.d_model)})
            with steer(model, vector, coefficient=2.0):
                steered = answer_activations(model, dialogues[:2], [1], batch_size=4)
            assert sum(passes) == 8  # steered reads are their own
        after = answer_activations(model, dialogues[:1], [1], batch_size=4)
        assert sum(passes) == 9  # the block's reads are gone once it exits
    finally:
        handle.remove()
    for i in range(4):
        torch.testing.assert_close(first[i], fresh[i], rtol=1e-5, atol=1e-5)
    for i in range(6):
        torch.testing.assert_close(again[i], fresh[i].flip(1), rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(inner[i], fresh[i][:, :1], rtol=1e-5, atol=1e-5)
    for i in range(2):  # the block output at layer 1 moves by exactly c * v
        torch.testing.assert_close(steered[i][:, 0], fresh[i][:, 0] + 2.0, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(after[0], fresh[0][:, :1], rtol=1e-5, atol=1e-5)


def test_on_policy_chooses_layer_and_c_on_validation_and_matches_scikit_learn(tiny):
    model = tiny("llama")
    train, test = qa_dialogues(60, seed=1), qa_dialogues(30, seed=2)
    mon = OnPolicyMonitor(layers=[1, 2, 3], C=(0.1, 1.0)).fit(model, train)
    assert len(mon.validation_) == 6
    best = max(mon.validation_, key=lambda r: r["auroc"])
    assert (mon.layer_, mon.C_) == (best["layer"], best["C"])
    scores = mon.score(model, test)
    lies = np.array([d.lie for d in test])
    assert scores[lies].min() > scores[~lies].max()  # the planted word "false" is read
    # parity: scikit-learn's logistic regression on the same standardised answer tokens
    acts = [a[:, 0].double().numpy() for a in answer_activations(model, train, [mon.layer_])]
    x, y = np.concatenate(acts), np.repeat([d.lie for d in train], [len(a) for a in acts])
    scaler = StandardScaler().fit(x)
    reference = LogisticRegression(C=mon.C_, max_iter=5000, tol=1e-10).fit(scaler.transform(x), y)
    test_acts = [a[:, 0].double().numpy() for a in answer_activations(model, test, [mon.layer_])]
    theirs = np.array([reference.decision_function(scaler.transform(a)).mean() for a in test_acts])
    np.testing.assert_allclose(scores, theirs, atol=5e-3)  # both stop at a tolerance (ours: scikit-learn's 1e-4)
    per_token = mon.token_scores(model, test)
    np.testing.assert_allclose([t.mean() for t in per_token], scores, rtol=1e-12)


def test_a_contrast_monitor_reads_each_answer_token_minus_the_prompts_last_token(tiny, tmp_path):
    from veracity.monitors import remembered_reads

    model = tiny("llama")
    train, test = qa_dialogues(60, seed=1), qa_dialogues(12, seed=2)
    rows = answer_tokens(model, test)
    with_prompt = answer_activations(model, test, [1, 2], batch_size=5, prompt_token=True)
    with remembered_reads():  # remembered reads keep the prompt's token too, asked for or not
        plain = answer_activations(model, test, [1, 2], batch_size=5)
        again = answer_activations(model, test, [2], batch_size=5, prompt_token=True)
    for (ids, start), both, alone, second in zip(rows, with_prompt, plain, again, strict=True):
        with torch.no_grad():
            hidden = model.hf_model(torch.tensor([ids]), output_hidden_states=True).hidden_states
        torch.testing.assert_close(both[:, 1], hidden[3][0, start - 1:], rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(alone, both[1:])
        torch.testing.assert_close(second[:, 0], both[:, 1])
    mon = OnPolicyMonitor(layers=[1, 2], C=(0.1, 1.0), contrast=True).fit(model, train)
    contrasted = [a[1:, 0] - a[:1, 0] for a in answer_activations(model, test, [mon.layer_], prompt_token=True)]
    np.testing.assert_allclose(mon.score(model, test),
                               [np.mean(mon.probe_.decision_function(a)) for a in contrasted], rtol=1e-6, atol=1e-6)
    plain_probe = OnPolicyMonitor(layers=[mon.layer_], C=(mon.C_,)).fit(model, train)
    assert not np.allclose(plain_probe.score(model, test), mon.score(model, test))  # another reading than on_policy's
    mon.calibrate(model, controls(100, seed=4), fpr=0.05).save(tmp_path / "m")
    back = load_monitor(tmp_path / "m")
    assert back.contrast and back.recipe == "on_policy"
    np.testing.assert_array_equal(back.score(model, test), mon.score(model, test))


def test_a_kind_balanced_monitor_weighs_lies_and_honest_answers_alike_within_each_kind(tiny):
    from veracity.monitors.probe_monitor import kind_weights

    model = tiny("llama")
    train = []  # two prompts: under "pressed" most answers are lies, under "plain" few are
    for kind, rate, seed in (("pressed", 0.8, 1), ("plain", 0.2, 2)):
        train += [Dialogue.ask(d.messages[-1][1], d.answer, lie=d.lie, group=f"{kind}{d.group}", kind=kind)
                  for d in qa_dialogues(30, seed=seed, lie_rate=rate)]
    weights = kind_weights(train)
    kinds, lies = np.array([d.kind for d in train]), np.array([d.lie for d in train])
    for kind in ("pressed", "plain"):
        mine = kinds == kind
        assert weights[mine & lies].sum() == pytest.approx(weights[mine & ~lies].sum()) == pytest.approx(mine.sum() / 2)
    assert weights.sum() == pytest.approx(len(train))
    assert np.all(kind_weights([*train[:3], Dialogue.ask("q", "a", lie=False, kind="alone")])[-1:] == 1)
    mon = OnPolicyMonitor(layers=[2], C=(1.0,), balance="kind").fit(model, train)
    # parity: scikit-learn's logistic regression on the standardised tokens, each weighted as its answer
    acts = [a[:, 0].double().numpy() for a in answer_activations(model, train, [2])]
    x, counts = np.concatenate(acts), [len(a) for a in acts]
    token_weights = np.repeat(weights, counts)
    token_weights = token_weights * len(x) / token_weights.sum()
    scaler = StandardScaler().fit(x, sample_weight=token_weights)
    reference = LogisticRegression(C=1.0, max_iter=5000, tol=1e-10).fit(
        scaler.transform(x), np.repeat(lies, counts), sample_weight=token_weights)
    test = qa_dialogues(10, seed=3)
    test_acts = [a[:, 0].double().numpy() for a in answer_activations(model, test, [2])]
    theirs = np.array([reference.decision_function(scaler.transform(a)).mean() for a in test_acts])
    np.testing.assert_allclose(mon.score(model, test), theirs, atol=5e-3)
    plain = OnPolicyMonitor(layers=[2], C=(1.0,)).fit(model, train)
    assert np.abs(plain.score(model, test) - mon.score(model, test)).max() > 1e-2  # the weights change the fit
    with pytest.raises(ValueError, match="balance must be None or 'kind'"):
        OnPolicyMonitor(balance="pressure")


def test_a_question_only_monitor_reads_each_answer_after_its_question_alone(tiny, tmp_path):
    model = tiny("llama")
    train = [Dialogue((("system", f"persona {i % 3}"), ("user", "an earlier turn"), ("assistant", "ok"),
                       *d.messages), d.answer, lie=d.lie, group=d.group) for i, d in enumerate(qa_dialogues(60, seed=1))]
    mon = OnPolicyMonitor(layers=[1, 2], C=(0.1, 1.0), context="question").fit(model, train)
    bare = [Dialogue.ask(d.messages[-1][1], d.answer, lie=d.lie, group=d.group) for d in train]
    np.testing.assert_array_equal(mon.score(model, train), mon.score(model, bare))  # what came before is dropped
    pressed = [Dialogue((("system", "answer falsely"), *d.messages), d.answer) for d in bare]
    np.testing.assert_array_equal(mon.score(model, pressed), mon.score(model, bare))
    same = OnPolicyMonitor(layers=[1, 2], C=(0.1, 1.0)).fit(model, bare)  # parity: the plain monitor on bare dialogues
    assert (same.layer_, same.C_) == (mon.layer_, mon.C_)
    np.testing.assert_allclose(same.score(model, bare), mon.score(model, train), rtol=1e-6, atol=1e-6)
    whole = OnPolicyMonitor(layers=[mon.layer_], C=(mon.C_,)).fit(model, train)
    assert np.abs(whole.score(model, train) - mon.score(model, train)).max() > 1e-3  # where it was said, it reads otherwise
    mon.calibrate(model, controls(100, seed=4), fpr=0.05).save(tmp_path / "q")
    back = load_monitor(tmp_path / "q")
    assert back.context == "question" and back.recipe == "on_policy"
    np.testing.assert_array_equal(back.score(model, train), mon.score(model, train))
    with pytest.raises(ValueError, match="reads each answer after its question alone"), monitor(model, mon):
        pass
    with pytest.raises(ValueError, match="context must be 'dialogue' or 'question'"):
        OnPolicyMonitor(context="prompt")


def test_a_given_validation_set_chooses_instead_of_a_split(tiny):
    model = tiny("llama")
    pairs = instructed_pairs([(f"which country is {c} in ?", f"{c} is in {k} .") for c, k in zip(CITIES, COUNTRIES)])
    assert len(pairs) == 12 and [d.lie for d in pairs[:2]] == [False, True] and pairs[0].answer == pairs[1].answer
    assert pairs[0].messages[0][0] == "system" and pairs[0].group == pairs[1].group
    validation = qa_dialogues(20, seed=3)
    mon = InstructedPairsMonitor(layers=[1, 3], C=(1.0,)).fit(model, pairs, validation=validation)
    from veracity.probes.metrics import auroc

    chosen = [r for r in mon.validation_ if r["layer"] == mon.layer_][0]["auroc"]
    assert chosen == max(r["auroc"] for r in mon.validation_) and 0 <= chosen <= 1
    assert auroc(mon.score(model, pairs), [d.lie for d in pairs]) > 0.9  # it reads the instruction's trace


def test_calibrated_at_one_percent_it_flags_about_one_percent_of_fresh_controls(tiny):
    model = tiny("llama")
    mon = OnPolicyMonitor(layers=[2], C=(1.0,)).fit(model, qa_dialogues(40, seed=1))
    mon.calibrate(model, controls(600, seed=10), fpr=0.01)
    assert mon.n_control_ == 600 and mon.fpr_ == 0.01
    assert mon.flag(model, controls(600, seed=10)).sum() <= 6  # at most 1% of the calibration set, by construction
    fresh = mon.flag(model, controls(1000, seed=11)).mean()
    assert fresh <= 0.03, fresh  # about 1% of answers it never saw (binomial sd at n=1000: 0.3 points)
    assert mon.flag(model, qa_dialogues(30, seed=2)).sum() > 0


def test_in_topic_calibration_caps_the_flags_on_both_honest_sets(tiny, tmp_path):
    model = tiny("llama")
    mon = OnPolicyMonitor(layers=[2], C=(1.0,)).fit(model, qa_dialogues(40, seed=1))
    chat = controls(200, seed=10)
    topic = [d for d in qa_dialogues(200, seed=5) if not d.lie]
    alone = mon.calibrate(model, chat, fpr=0.01).threshold_
    mon.calibrate(model, chat, fpr=0.01, in_topic=topic, in_topic_fpr=0.05)
    assert mon.n_in_topic_ == len(topic) and mon.in_topic_fpr_ == 0.05 and mon.threshold_ >= alone
    assert mon.flag(model, chat).mean() <= 0.01 and mon.flag(model, topic).mean() <= 0.05
    mon.save(tmp_path / "m")
    back = load_monitor(tmp_path / "m")
    assert (back.threshold_, back.in_topic_fpr_, back.n_in_topic_) == (mon.threshold_, 0.05, len(topic))
    with pytest.raises(ValueError, match=r"in_topic_fpr must be in \(0, 1\)"):
        mon.calibrate(model, chat, in_topic=topic, in_topic_fpr=1.0)
    with pytest.raises(ValueError, match="1 of 1 in_topic dialogues are marked lie=True"):
        mon.calibrate(model, chat, in_topic=qa_dialogues(1, lie_rate=1.0))


def test_the_threshold_at_an_fpr_leaves_that_share_of_honest_scores_above_it():
    from veracity.monitors.monitor import threshold_at_fpr

    scores = np.random.default_rng(0).permutation(200).astype(float)
    for fpr in (0.01, 0.05, 0.2):
        assert (scores > threshold_at_fpr(scores, fpr)).sum() == round(fpr * 200)


def test_calibration_refuses_bad_input_in_one_line(tiny, caplog):
    model = tiny("llama")
    mon = OnPolicyMonitor(layers=[2], C=(1.0,)).fit(model, qa_dialogues(40, seed=1))
    with pytest.raises(ValueError, match="no threshold yet"):
        mon.flag(model, controls(3, seed=1))
    for fpr in (0, 1, 1.5, -0.1, True, "0.01"):
        with pytest.raises(ValueError, match=r"fpr must be in \(0, 1\)"):
            mon.calibrate(model, controls(10, seed=1), fpr=fpr)
    with pytest.raises(ValueError, match="1 of 11 control dialogues are marked lie=True"):
        mon.calibrate(model, [*controls(10, seed=1), qa_dialogues(1, lie_rate=1.0)[0]])
    with caplog.at_level(logging.WARNING):
        mon.calibrate(model, controls(50, seed=1), fpr=0.01)
    assert "poorly pinned down" in caplog.text
    with pytest.raises(ValueError, match="lies and honest answers"):
        OnPolicyMonitor(layers=[2]).fit(model, qa_dialogues(10, lie_rate=0.0))
    with pytest.raises(ValueError, match="lie=None"):
        OnPolicyMonitor(layers=[2]).fit(model, [Dialogue.ask("q", "a")] * 4)
    with pytest.raises(ValueError, match="not fitted"):
        OnPolicyMonitor().score(model, controls(2, seed=1))
    with pytest.raises(ValueError, match="non-empty list of Dialogue"):
        mon.score(model, qa_dialogues(1)[0])


def test_a_statement_monitor_is_minus_its_truth_probe_at_the_answers_last_token(tiny):
    model = tiny("llama")
    statements = [f"{c} is in {COUNTRIES[(i + k) % 6]} ." for k in (0, 1) for i, c in enumerate(CITIES)] * 3
    true = [int(k == 0) for k in (0, 1) for _ in CITIES] * 3
    mon = StatementMonitor(layer=2, C=0.5).fit(model, statements, true)
    test = qa_dialogues(8, seed=3)
    rows = answer_tokens(model, test)
    with torch.no_grad():
        last = torch.stack([model.hf_model(torch.tensor([ids]), output_hidden_states=True).hidden_states[3][0, -1]
                            for ids, _ in rows])
    np.testing.assert_allclose(mon.score(model, test), -np.asarray(mon.probe_.decision_function(last)), atol=1e-5)
    with pytest.raises(ValueError, match="both true"):
        StatementMonitor().fit(model, statements[:6], true[:6])


@pytest.mark.parametrize("recipe", ["on_policy", "follow_up", "self_report", "consistency", "statement"])
def test_save_and_load_keep_scores_and_threshold(tiny, tmp_path, recipe):
    model = tiny("llama")
    train = qa_dialogues(40, seed=1)
    mon = {"on_policy": lambda: OnPolicyMonitor(layers=[1, 2], C=(1.0,)).fit(model, train),
           "follow_up": lambda: FollowUpMonitor(C=0.5).fit(model, train),
           "self_report": lambda: SelfReportMonitor().fit(model),
           "consistency": lambda: ConsistencyMonitor(system=None).fit(model),
           "statement": lambda: StatementMonitor(layer=1).fit(model, [d.answer for d in train],
                                                              [int(not d.lie) for d in train])}[recipe]()
    mon.calibrate(model, controls(100, seed=4), fpr=0.05)
    mon.save(tmp_path / "m")
    meta = json.loads((tmp_path / "m.json").read_text())
    assert meta["recipe"] == recipe and meta["model"]["id"] == "tiny-llama" and meta["threshold"] == mon.threshold_
    back = load_monitor(tmp_path / "m")
    test = qa_dialogues(10, seed=2)
    np.testing.assert_array_equal(back.score(model, test), mon.score(model, test))
    np.testing.assert_array_equal(back.flag(model, test), mon.flag(model, test))
    del meta["model"]["fingerprint"]
    (tmp_path / "m.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="incomplete or edited monitor"):
        load_monitor(tmp_path / "m")


def test_a_monitor_refuses_another_model_and_a_black_box_one_warns(tiny, word_tokenizer, caplog):
    from tiny_models import build_tiny

    from veracity.hooks.model import from_hf

    model = tiny("llama")
    other = from_hf(build_tiny("llama", len(word_tokenizer), seed=5), word_tokenizer, model_id="tiny-llama")
    train = qa_dialogues(40, seed=1)
    with pytest.raises(ValueError, match="fit a monitor on the activations of the model it monitors"):
        OnPolicyMonitor(layers=[2]).fit(model, train).score(other, train[:2])
    with pytest.raises(ValueError, match="64-wide activations"):
        OnPolicyMonitor(layers=[2]).fit(model, train).score(_wider(word_tokenizer), train[:2])
    with caplog.at_level(logging.WARNING):
        FollowUpMonitor().fit(model, train).score(other, train[:2])
    assert "black-box monitor may transfer" in caplog.text


def _wider(tokenizer):
    from transformers import LlamaConfig, LlamaForCausalLM

    from veracity.hooks.model import from_hf

    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=4,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128)
    return from_hf(LlamaForCausalLM(config).eval(), tokenizer, model_id="tiny-narrow")


def test_follow_up_features_are_yes_minus_no_log_odds(tiny):
    model = tiny("llama")
    dialogues = qa_dialogues(4)
    mon = FollowUpMonitor(questions=("is it true ? answer yes or no .", "is paris in france ?"))
    features = mon.features(model, dialogues)
    assert features.shape == (4, 2)
    yes, no = (model.tokenizer.convert_tokens_to_ids(w) for w in ("yes", "no"))
    for i, d in enumerate(dialogues):
        text = f"Question: {d.messages[0][1]}\nAnswer: {d.answer}\n\nQuestion: is paris in france ?\nAnswer:"
        ids = model.tokenizer(text)["input_ids"]
        with torch.no_grad():
            logp = torch.log_softmax(model.hf_model(torch.tensor([ids])).logits[0, -1].double(), -1)
        assert features[i, 1] == pytest.approx(float(logp[yes] - logp[no]), abs=1e-4)
    np.testing.assert_allclose(SelfReportMonitor(question="is paris in france ?").score(model, dialogues),
                               -features[:, 1], atol=1e-4)
    np.testing.assert_allclose(yes_minus_no(model, dialogues, "is paris in france ?"), features[:, 1], atol=1e-4)
    # the dialogue read once on a KV cache, each question after it: the same log-odds as asking in full
    full = np.stack([yes_minus_no(model, dialogues, q) for q in mon.questions], axis=1)
    np.testing.assert_allclose(features, full, atol=1e-4)


def test_consistency_is_each_answer_tokens_surprise_after_the_question_asked_plainly(tiny):
    model = tiny("llama")
    pressured = [Dialogue((("system", "always lie ."), ("user", "is paris in france ?"), ("assistant", "no"),
                           ("user", d.messages[-1][1])), d.answer) for d in qa_dialogues(4)]
    mon = ConsistencyMonitor().fit(model)
    tokens = mon.token_scores(model, pressured)
    for d, row in zip(pressured, tokens, strict=True):
        prompt = model.tokenizer(f"Question: {d.messages[-1][1]}\nAnswer:")["input_ids"]
        answer = model.tokenizer(" " + d.answer, add_special_tokens=False)["input_ids"]
        with torch.no_grad():
            logp = torch.log_softmax(model.hf_model(torch.tensor([prompt + answer])).logits[0].double(), -1)
        np.testing.assert_allclose(row, [-float(logp[len(prompt) - 1 + k, t]) for k, t in enumerate(answer)], atol=1e-4)
    np.testing.assert_allclose(mon.score(model, pressured), [row.mean() for row in tokens])
    # the pressure is never read: the question alone with the same answer scores the same
    plain = [Dialogue.ask(d.messages[-1][1], d.answer) for d in pressured]
    np.testing.assert_allclose(mon.score(model, plain), mon.score(model, pressured), atol=1e-6)
    # the model's own plain answer (one greedy token) is the least surprising one-word answer
    question = "which country is paris in ?"
    own = generate(model, [f"Question: {question}\nAnswer:"], max_new_tokens=1)[0][0].strip()
    others = [w for w in COUNTRIES + CITIES if w != own]
    scores = mon.score(model, [Dialogue.ask(question, w) for w in [own, *others]])
    assert scores[0] < scores[1:].min()
    # against="top": each token's gap to the model's own first choice, zero for the model's own plain answer
    top = ConsistencyMonitor(against="top").fit(model)
    for d, row in zip(pressured, top.token_scores(model, pressured), strict=True):
        prompt = model.tokenizer(f"Question: {d.messages[-1][1]}\nAnswer:")["input_ids"]
        answer = model.tokenizer(" " + d.answer, add_special_tokens=False)["input_ids"]
        with torch.no_grad():
            logp = torch.log_softmax(model.hf_model(torch.tensor([prompt + answer])).logits[0].double(), -1)
        expected = [float(logp[len(prompt) - 1 + k].max() - logp[len(prompt) - 1 + k, t]) for k, t in enumerate(answer)]
        np.testing.assert_allclose(row, expected, atol=1e-4)
    gaps = top.score(model, [Dialogue.ask(question, w) for w in [own, *others]])
    assert gaps[0] == pytest.approx(0, abs=1e-5) and gaps[1:].min() > 0
    # remembered: both variants of a dialogue from one forward pass, the same figures
    from veracity.monitors import remembered_reads

    plain_top, passes = top.score(model, pressured), []
    handle = model.hf_model.register_forward_hook(lambda *_: passes.append(1))
    try:
        with remembered_reads():
            np.testing.assert_allclose(mon.score(model, pressured), [row.mean() for row in tokens])
            first = len(passes)
            np.testing.assert_allclose(top.score(model, pressured), plain_top)
    finally:
        handle.remove()
    assert first >= 1 and len(passes) == first
    with pytest.raises(ValueError, match="system must be"):
        ConsistencyMonitor(system=3)
    with pytest.raises(ValueError, match="against must be one of"):
        ConsistencyMonitor(against="mean")


def test_live_scores_are_the_monitor_read_on_what_was_generated_and_hooks_go(tiny):
    model = tiny("llama")
    mon = OnPolicyMonitor(layers=[2], C=(1.0,)).fit(model, qa_dialogues(40, seed=1))
    prompts = ["Question: which country is paris in ?\nAnswer:", "Question: is rome in italy ?\nAnswer:"]
    with monitor(model, mon) as live:
        generate(model, prompts, max_new_tokens=5)
        assert count_hooks(model) == 1
    assert count_hooks(model) == 0 and [len(row) for row in live.scores] == [4, 4]
    for prompt, row in zip(prompts, live.scores, strict=True):
        with torch.no_grad():
            ids = model.tokenizer(prompt, return_tensors="pt")["input_ids"]
            out = model.hf_model.generate(ids, max_new_tokens=5, do_sample=False, pad_token_id=1)
            hidden = model.hf_model(out, output_hidden_states=True).hidden_states[mon.layer_ + 1][0]
        read_back = hidden[ids.shape[1]:ids.shape[1] + 4]  # every generated token but the last
        np.testing.assert_allclose(row, mon.probe_.decision_function(read_back), rtol=1e-4, atol=1e-4)
    with pytest.raises(RuntimeError), monitor(model, mon):
        raise RuntimeError("boom")
    assert count_hooks(model) == 0
    with pytest.raises(ValueError, match="cannot listen to generation"), monitor(model, SelfReportMonitor()):
        pass


def test_live_scores_of_a_contrast_monitor_take_the_prompts_last_token_off(tiny):
    model = tiny("llama")
    mon = OnPolicyMonitor(layers=[2], C=(1.0,), contrast=True).fit(model, qa_dialogues(40, seed=1))
    prompts = ["Question: which country is paris in ?\nAnswer:", "Question: is rome in italy ?\nAnswer:"]
    with monitor(model, mon) as live:
        generate(model, prompts, max_new_tokens=5)  # two prompts of other lengths: padded on the left
    assert [len(row) for row in live.scores] == [4, 4]
    for prompt, row in zip(prompts, live.scores, strict=True):
        with torch.no_grad():
            ids = model.tokenizer(prompt, return_tensors="pt")["input_ids"]
            out = model.hf_model.generate(ids, max_new_tokens=5, do_sample=False, pad_token_id=1)
            hidden = model.hf_model(out, output_hidden_states=True).hidden_states[mon.layer_ + 1][0]
        read_back = hidden[ids.shape[1]:ids.shape[1] + 4] - hidden[ids.shape[1] - 1]
        np.testing.assert_allclose(row, mon.probe_.decision_function(read_back), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("arch,backend", [("llama", "hf"), ("gpt2", "hf"), ("llama", "transformer_lens"),
                                          ("llama", "nnsight")])
def test_follow_up_log_odds_on_a_kv_cache_equal_asking_in_full_on_every_backend(tiny, arch, backend):
    from veracity.monitors import follow_up_log_odds

    model = tiny(arch, backend)
    dialogues = qa_dialogues(3)
    questions = ("is it true ? answer yes or no .", "is paris in france ?", "was it a lie ?")
    full = np.stack([yes_minus_no(model, dialogues, q) for q in questions], axis=1)
    np.testing.assert_allclose(follow_up_log_odds(model, dialogues, questions), full, atol=1e-4)
    # one or two questions are asked in full over batches of dialogues: the same figures
    np.testing.assert_allclose(follow_up_log_odds(model, dialogues, questions[:2], batch_size=2), full[:, :2],
                               atol=1e-4)


def test_the_token_view_shows_live_scores(tiny):
    from veracity.experiments.truth.token_scores import live_view, token_figure

    model = tiny("llama")
    mon = OnPolicyMonitor(layers=[2], C=(1.0,)).fit(model, qa_dialogues(40, seed=1))
    ids = model.tokenizer(["Question: which country is paris in ?\nAnswer:"], return_tensors="pt")["input_ids"]
    with monitor(model, mon) as live, torch.no_grad():
        out = model.hf_model.generate(ids, max_new_tokens=5, do_sample=False, pad_token_id=1)
    view = live_view(model, live, 0, out[0, ids.shape[1]:], label="answer")
    assert len(view.tokens) == 4 and np.all((view.scores > 0) & (view.scores < 1))
    np.testing.assert_allclose(view.scores, 1 / (1 + np.exp(live.scores[0])))
    assert len(token_figure([view]).data) == 1
    with pytest.raises(ValueError, match="pass that row's generated ids"):
        live_view(model, live, 0, out[0, ids.shape[1]:ids.shape[1] + 2])
