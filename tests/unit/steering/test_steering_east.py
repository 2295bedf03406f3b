"""EAST: entropy, the entropy-weighted vector (parity with a plain loop), the text bandit."""

import math

import pytest
import torch

from veracity.hooks import extract, next_token_logprobs
from veracity.steering import Bandit, action_distribution, east_vector, entropy, play, steer
from veracity.steering.bandit import arm_token_ids, bandit_prompt
from veracity.steering.east import east_directions

LABELS = ("one", "two", "three")  # single tokens of the tiny test tokenizer


def test_entropy():
    assert float(entropy(torch.full((4,), 0.25))) == pytest.approx(math.log(4))
    assert float(entropy(torch.tensor([1.0, 0.0, 0.0]))) == 0.0
    assert entropy(torch.rand(5, 3).softmax(-1)).shape == (5,)


def test_east_direction_matches_a_plain_loop():
    gen = torch.Generator().manual_seed(0)
    acts = torch.randn(12, 2, 8, generator=gen)
    ent = torch.rand(12, generator=gen)
    units, stats = east_directions(acts, ent)
    for layer in range(2):
        mean_h = sum(acts[i, layer] for i in range(12)) / 12
        mean_H = sum(float(ent[i]) for i in range(12)) / 12
        v = sum((float(ent[i]) - mean_H) * (acts[i, layer] - mean_h) for i in range(12))
        torch.testing.assert_close(units[layer], v / v.norm(), rtol=1e-5, atol=1e-6)
    assert all(c > 0 for c in stats["corr"]), "projection on v correlates with entropy by construction"


def test_east_errors():
    with pytest.raises(ValueError, match="entropies differ"):
        east_directions(torch.randn(4, 1, 3), torch.ones(4))
    with pytest.raises(ValueError, match="need acts"):
        east_directions(torch.randn(4, 3), torch.ones(4))


def test_bandit_and_prompt():
    bandit = Bandit.random(3, seed=1, labels=LABELS)
    assert bandit == Bandit.random(3, seed=1, labels=LABELS) and len(bandit.probs) == 3
    prompt = bandit_prompt(bandit, [(0, 1), (2, 0)])
    lines = prompt.splitlines()
    assert lines[1] == "Round 1: I press button one and get reward 1."
    assert lines[-1] == "Round 3: I press button"
    with pytest.raises(ValueError, match="reward probabilities"):
        Bandit([0.5, 1.5])
    with pytest.raises(ValueError, match="only 5 labels"):
        Bandit.random(6)


def test_arm_tokens_must_be_single_known_tokens(word_tokenizer):
    assert len(set(arm_token_ids(word_tokenizer, LABELS))) == 3
    with pytest.raises(ValueError, match="not one known token"):
        arm_token_ids(word_tokenizer, ["one", "zebra"])
    with pytest.raises(ValueError, match="not one known token"):
        arm_token_ids(word_tokenizer, ["one two", "three"])


def test_action_distribution_renormalises_next_token_probabilities(tiny):
    model = tiny("llama")
    bandit = Bandit([0.2, 0.5, 0.8], LABELS)
    prompts = [bandit_prompt(bandit, []), bandit_prompt(bandit, [(1, 1)])]
    ids = arm_token_ids(model.tokenizer, LABELS)
    probs = action_distribution(model, prompts, ids)
    logp = next_token_logprobs(model, prompts)[:, ids]
    torch.testing.assert_close(probs, (logp.exp() / logp.exp().sum(-1, keepdim=True)).float())
    hot = action_distribution(model, prompts, ids, temperature=1e6)
    torch.testing.assert_close(hot, torch.full_like(hot, 1 / 3), atol=1e-4, rtol=0)
    cold = action_distribution(model, prompts, ids, temperature=0.5)
    assert (entropy(cold) < entropy(probs)).all()


def test_play_logs_every_decision_reproducibly(tiny):
    model = tiny("gpt2")
    bandit = Bandit([0.2, 0.5, 0.8], LABELS)
    a = play(model, bandit, n_episodes=3, n_rounds=4, seed=0)
    b = play(model, bandit, n_episodes=3, n_rounds=4, seed=0)
    assert len(a.prompts) == 12 and a.actions == b.actions and a.rewards == b.rewards
    assert a.prob_matrix().shape == (12, 3)
    assert a.prompts[-1].count("Round") == 4


def test_east_vector_on_a_tiny_model(tiny):
    model = tiny("llama")
    bandit = Bandit([0.2, 0.5, 0.8], LABELS)
    log = play(model, bandit, n_episodes=4, n_rounds=3, seed=0)
    ent = entropy(log.prob_matrix())
    vector = east_vector(model, log.prompts, ent, layers=[2], normalization="unit")
    acts = extract(model, log.prompts, [2], progress=False)
    units, _ = east_directions(acts, ent)
    torch.testing.assert_close(vector[2], units[0])
    assert vector.method == "east" and "corr" in vector.extra
    resid = east_vector(model, log.prompts, ent, layers=2)
    assert float(resid[2].norm()) == pytest.approx(resid.extra["resid_norm"]["2"], rel=1e-5)
    ids = arm_token_ids(model.tokenizer, LABELS)
    base = action_distribution(model, log.prompts[-2:], ids)
    with steer(model, vector, 0.0):
        assert torch.equal(action_distribution(model, log.prompts[-2:], ids), base)
    with pytest.raises(ValueError, match="one per prompt"):
        east_vector(model, log.prompts, ent[:3], layers=2)
