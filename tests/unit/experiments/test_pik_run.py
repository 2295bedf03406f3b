"""P(IK) experiment: generation with left padding, targets, baselines, and the real run."""


from dataclasses import replace

import numpy as np
import pytest
import torch

from veracity.data import QADataset, QAItem
from veracity.experiments.knowing.pik_parts import NotEnoughOutcomes, PIKConfig, category_prior, split, training_target
from veracity.hooks.generation import GradedAnswers, generate, left_padding, qa_prompts


def test_config_validation_says_what_to_do():
    with pytest.raises(ValueError, match="choose from arithmetic"):
        PIKConfig(qa_sets="trivia")
    with pytest.raises(ValueError, match="needs --k >= 1"):
        PIKConfig(k=0, target="soft")
    with pytest.raises(ValueError, match="int or 'auto'"):
        PIKConfig(layer="middle")
    assert PIKConfig().layer_index(30) == 20 and PIKConfig(layer="-1").layer_index(30) == 29


def test_generate_pads_left_and_restores_the_tokenizer(tiny):
    model = tiny("llama")
    prompts = ["what is one and two ?", "the capital of france is"]
    greedy = generate(model, prompts, max_new_tokens=3, progress=False)
    assert [len(g) for g in greedy] == [1, 1] and model.tokenizer.padding_side == "right"
    assert generate(model, prompts, max_new_tokens=3, progress=False) == greedy
    samples = generate(model, prompts, max_new_tokens=3, num_samples=3, seed=1, progress=False)
    assert [len(s) for s in samples] == [3, 3]
    assert samples == generate(model, prompts, max_new_tokens=3, num_samples=3, seed=1, progress=False)
    alone = generate(model, prompts[1:], max_new_tokens=3, progress=False)
    assert alone[0] == greedy[1]  # left padding does not change a greedy answer


def test_left_padding_is_restored_on_error(word_tokenizer):
    word_tokenizer.padding_side = "right"
    with pytest.raises(RuntimeError), left_padding(word_tokenizer):
        assert word_tokenizer.padding_side == "left"
        raise RuntimeError("boom")
    assert word_tokenizer.padding_side == "right"


def test_prompts_fall_back_to_plain_without_a_chat_template(tiny):
    data = QADataset([QAItem("What is 2 + 2?", ("4",), "number", "add_1d")])
    assert qa_prompts(tiny("gpt2"), data) == ["Question: What is 2 + 2? Answer with just the number.\nAnswer:"]


def test_targets_and_category_prior():
    graded = GradedAnswers(["4", "x", "y"], [["4", "5"], ["x", "x"], ["1", "y"]], np.array([1, 0, 1]),
                           np.array([[1.0, 0.0], [0.0, 0.0], [0.0, 1.0]]))
    assert training_target(graded, "soft").tolist() == [0.5, 0.0, 0.5]
    assert training_target(graded, "greedy").tolist() == [1.0, 0.0, 1.0]
    assert training_target(graded, "mixed").tolist() == pytest.approx([2 / 3, 0.0, 2 / 3])
    items = [QAItem("q", ("a",), "text", c) for c in ("easy", "easy", "hard", "hard", "new")]
    prior = category_prior(QADataset(items), np.array([1, 0, 0, 0, 1]), train=np.array([0, 1, 2, 3]))
    assert prior.tolist() == [0.5, 0.5, 0.0, 0.0, 0.25]


def test_p_true_prompts_and_answer_formats():
    from veracity.experiments.knowing.pik import answer_format
    from veracity.hooks.generation import P_TRUE_QUESTION, p_true_prompt

    plain = p_true_prompt("What is 2 + 2?", "4")
    assert plain == P_TRUE_QUESTION.format(question="What is 2 + 2?", answer="4")
    few = p_true_prompt("What is 2 + 2?", "4", shots=True)
    assert few.endswith(plain) and few.count("Answer: True") == 2 and few.count("Answer: False") == 2
    sampled = p_true_prompt("What is 2 + 2?", "", samples=["4\nmore", "5"])
    assert "Some answers you could give: 4; 5" in sampled and sampled.endswith("Proposed answer: (none)\n"
                                                                               "Is the proposed answer true or false? "
                                                                               "Answer True or False.")
    assert [answer_format(a) for a in ["", "Paris", "The capital is Paris.", "Paris\nFrance", "To solve this, we"]] == [
        "empty", "bare", "sentence", "multiline", "cut_off"]


def test_split_needs_right_and_wrong_answers():
    correct = np.array([1, 0] * 10)
    train, test = split(correct, 0.3, seed=0)
    assert correct[test].sum() == 3 and len(test) == 6 and not set(train) & set(test)
    with pytest.raises(NotEnoughOutcomes, match="1 of 10 questions right"):
        split(np.array([1] + [0] * 9), 0.3, seed=0)


@pytest.mark.parametrize("arch", ["llama", "gpt2"])
def test_shared_prefill_decoding_matches_hf_generate(tiny, arch):
    from veracity.hooks.generation import greedy_and_samples

    model = tiny(arch)
    prompts = ["what is one and two ?", "the capital of france is", "tokyo is in"]
    reference = [g[0] for g in generate(model, prompts, max_new_tokens=5, batch_size=2, progress=False)]
    greedy, samples = greedy_and_samples(model, prompts, k=3, max_new_tokens=5, batch_size=2, progress=False)
    assert greedy == reference
    assert [len(s) for s in samples] == [3, 3, 3] and model.tokenizer.padding_side == "right"
    again = greedy_and_samples(model, prompts, k=3, max_new_tokens=5, batch_size=2, progress=False)
    assert again == (greedy, samples)
    hot = greedy_and_samples(model, prompts, k=8, max_new_tokens=5, temperature=50.0, progress=False)[1]
    assert len({s for row in hot for s in row}) > 3  # a high temperature really samples


def test_passages_state_their_own_capital_or_another_rows_and_the_mixed_and_paired_heads_train_on_training_rows_only(
        tiny, monkeypatch):
    from veracity.data import capital_questions
    from veracity.experiments.knowing import pik_passages

    model = tiny("llama")
    data = capital_questions(n=12, seed=0)
    rows = [0, 1, 2, 3, 4]
    prompts = pik_passages.passage_prompts(model, data, rows)
    for k, i in enumerate(rows):
        item = data.items[i]
        assert item.question in prompts["none"][k] and "capital city" not in prompts["none"][k]
        assert f"{item.answers[0]} is the capital city of" in prompts["relevant"][k]
        assert item.answers[0] not in prompts["irrelevant"][k]
        assert any(f"{data.items[j].answers[0]} is the capital" in prompts["irrelevant"][k] for j in rows if j != i)
    config = PIKConfig(max_new_tokens=2, batch_size=4)
    train = np.arange(8)
    acts = torch.randn(12, model.d_model)
    target = np.array([1.0, 0.0] * 6)
    seen, original = [], pik_passages.extract  # record which texts the head reads (the real extract runs)
    monkeypatch.setattr(pik_passages, "extract", lambda m, texts, **kw: (seen.extend(texts), original(m, texts, **kw))[1])
    training = pik_passages.passage_prompts(model, data, list(range(8)), training=True)
    assert len(training) == len(pik_passages.TRAINING_WORDINGS) + pik_passages.IRRELEVANT_PER_QUESTION
    for k, i in enumerate(range(8)):  # every irrelevant passage names another training country, each a different one
        named = [j for j in range(8) for c in training if c.startswith("irrelevant")
                 if f"{data.items[j].answers[0]} is the capital city" in training[c][k]]
        assert i not in named and len(set(named)) == pik_passages.IRRELEVANT_PER_QUESTION
    correct = np.array([1, 0, 0, 1] * 3)
    heads = pik_passages.passage_heads(model, data, acts, target, correct, train, 1, config)
    assert len(seen) == len(training) * len(train)  # both heads read the same passage prompts, extracted once
    assert not any(data.items[i].question in text for text in seen for i in range(8, 12))
    for head, selection in heads.values():
        assert [row["weight_decay"] for row in selection] == list(pik_passages.WEIGHT_DECAYS)
        best = max(selection, key=lambda row: row["mean_auroc"])
        assert head.weight_decay == best["weight_decay"]
    # the paired head reads the question in its condition beside the same question bare: twice the width
    assert heads["mixed"][0].coef_.shape[-1] == model.d_model and heads["paired"][0].coef_.shape[-1] == 2 * model.d_model
    passages = torch.randn(3, model.d_model)
    assert torch.equal(pik_passages.paired(passages, acts[:3])[:, model.d_model:], acts[:3])
    # held-out questions are read by every head in every condition; the paired head with their own bare activation
    read = pik_passages.source_passages(model, data, {"": heads["mixed"][0], "paired": heads["paired"][0]}, 1,
                                        np.arange(8, 12), config, bare_acts=acts)
    assert set(read) == set(pik_passages.CONDITIONS)
    with pytest.raises(ValueError, match="pass bare_acts"):
        pik_passages.source_passages(model, data, {"paired": heads["paired"][0]}, 1, np.arange(8, 12), config)
    none = pik_passages.extract(model, pik_passages.passage_prompts(model, data, [8, 9, 10, 11])["none"], layers=[1],
                                batch_size=4, progress=False)[:, 0]
    expected = heads["paired"][0].predict_true(pik_passages.paired(none, acts[8:12]))
    assert read["none"]["mean_p_ik_paired"]["value"] == pytest.approx(float(np.mean(np.asarray(expected))))


def test_answer_and_grade_answers_the_prompts_it_is_given_and_the_passage_head_learns_the_bare_heads_target(
        tiny, monkeypatch):
    """Passage rows are labelled with the bare rows' target (here the fraction of samples right), read on what the
    model answers after each passage: a head whose bare rows learn the sampled accuracy and its passage rows the
    greedy one reads any passage as knowing."""
    from veracity.data import capital_questions
    from veracity.experiments.knowing import pik_passages
    from veracity.hooks.generation import answer_and_grade, greedy_and_samples

    model = tiny("llama")
    prompts = ["the capital of france is", "one and two make"]
    greedy, samples = greedy_and_samples(model, prompts, k=3, max_new_tokens=3, seed=2, progress=False)
    # references that are the model's own greedy answers to these prompts: graded right only if these prompts are asked
    data = QADataset([QAItem(question=f"question {i}", answers=[g.strip() or "x"], kind="text", category="c")
                      for i, g in enumerate(greedy)])
    graded = answer_and_grade(model, data, k=3, max_new_tokens=3, seed=2, progress=False, prompts=prompts)
    assert graded.greedy == greedy and graded.samples == samples and graded.correct.tolist() == [1, 1]
    assert answer_and_grade(model, data, k=3, max_new_tokens=3, seed=2, progress=False).greedy != greedy
    with pytest.raises(ValueError, match="one prompt per question"):
        answer_and_grade(model, data, k=1, progress=False, prompts=prompts[:1])

    config = PIKConfig(max_new_tokens=2, batch_size=4, k=2, target="soft", temperature=50.0)
    train, rows = np.arange(8), list(range(8))
    # the random model's own greedy answer after each relevant passage is accepted as right (the passage names the
    # capital, answers[0], so the prompts stay as they were): greedy-graded, those rows would be 1; their sampled
    # answers (temperature 50) are noise, so the soft target, the fraction of samples right, stays near 0
    capitals = capital_questions(n=12, seed=0)
    relevant = pik_passages.passage_prompts(model, capitals, rows, training=True)["relevant"]
    said = pik_passages._answered(model, capitals, rows, relevant, config).greedy
    capitals = QADataset([replace(item, answers=(*item.answers, said[i].splitlines()[0].strip()))
                          if i < len(said) and said[i].strip() else item for i, item in enumerate(capitals.items)], "c")
    fitted = []
    original = pik_passages.PIKHead.fit
    monkeypatch.setattr(pik_passages.PIKHead, "fit", lambda head, x, y: (fitted.append(np.asarray(y)), original(head, x, y))[1])
    target = np.linspace(0, 1, 12)
    pik_passages.passage_heads(model, capitals, torch.randn(12, model.d_model), target, np.array([1, 0] * 6), train, 1,
                               config)
    answers = {c: pik_passages._answered(model, capitals, rows, p, config)
               for c, p in pik_passages.passage_prompts(model, capitals, rows, training=True).items()}
    expected = [training_target(a, "soft") for a in answers.values()]
    assert answers["relevant"].correct.sum() >= 4 and (training_target(answers["relevant"], "soft") < 1).any()
    # the last fit reads every training row: the bare ones with their target, then each passage prompt's answers'
    assert np.array_equal(fitted[-1], np.concatenate([target[train], *expected]))
