"""EAST on a text bandit: action entropy against the steering coefficient and the temperature.

Plays ``--n-episodes`` episodes of a k-armed Bernoulli bandit (buttons A..E; the model answers
with one token), logs every decision prompt with the entropy of the model's action distribution
(next-token probabilities renormalised over the arm tokens), and builds the EAST vector
``sum_i (H_i - mean H)(h_i - mean h)`` at ``--layer`` (Rahn et al. 2024). On the decisions of
``--n-eval-episodes`` held-out episodes it then reports the mean action entropy and the mean
share of each arm for each steering coefficient (in units of the mean residual norm), beside
the same numbers for the unsteered model at each sampling temperature. With
``--rollout-episodes N`` it also plays N fresh episodes per setting and reports the entropy of
the arms actually chosen and the reward rate.

Usage:
    python -m veracity.experiments.steering.east_bandit --out artifacts/east_bandit
"""

from __future__ import annotations

import html
import json
import logging
import math
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import torch

from veracity.experiments.cli import study_main
from veracity.experiments.config import StudyConfig
from veracity.experiments.report import write_report
from veracity.experiments.results import Results, study_results
from veracity.probes.evaluation import mean_estimate
from veracity.steering import Bandit, east_vector, entropy, play, steer, to_gguf
from veracity.steering.bandit import arm_logprobs, arm_token_ids, to_distribution

logger = logging.getLogger("veracity.experiments.steering.east_bandit")


@dataclass(kw_only=True)
class Config(StudyConfig):
    """Settings of the experiment; each field is a command-line option (``--help``).

    Attributes:
        arms: Number of buttons (A, B, ...; at most 5).
        n_episodes: Episodes played to collect decision prompts for the vector.
        n_eval_episodes: Further episodes whose decisions are the evaluation prompts.
        n_rounds: Decisions per episode.
        layer: Layer to read and steer (layer L = residual stream after block L).
        position: Token position of the representation: last or mean.
        coefficients: Steering coefficients, as fractions of the mean residual norm at the layer.
        temperatures: Sampling temperatures to compare with (unsteered).
        rollout_episodes: Fresh episodes played per setting to measure the entropy of chosen arms (0: skip).
    """

    study = "east_bandit"

    arms: int = 5
    n_episodes: int = 8
    n_eval_episodes: int = 4
    n_rounds: int = 6
    layer: int = 15
    position: str = "last"
    coefficients: list[float] = field(default_factory=lambda: [-0.5, -0.25, -0.1, 0.0, 0.1, 0.25, 0.5])
    temperatures: list[float] = field(default_factory=lambda: [0.5, 1.0, 1.5, 2.0, 3.0])
    rollout_episodes: int = 0

    def __post_init__(self):
        super().__post_init__()
        if not 2 <= self.arms <= 5 or self.n_episodes < 2 or self.n_eval_episodes < 1 or self.n_rounds < 1:
            raise ValueError("need 2 <= arms <= 5, n_episodes >= 2, n_eval_episodes >= 1, n_rounds >= 1")
        if 0.0 not in self.coefficients or 1.0 not in self.temperatures:
            raise ValueError("coefficients must include 0 and temperatures 1 (the baseline)")
        if self.position not in ("last", "mean"):
            raise ValueError("position must be last or mean")


def summarise(probs: torch.Tensor, labels) -> dict:
    """Mean per-decision entropy (nats) with its 95% bootstrap interval, its spread, and the mean share of each arm."""
    ent = entropy(probs)
    return {"entropy": float(ent.mean()), "entropy_ci95": mean_estimate(ent.double().numpy(), seed=0)["ci"], "entropy_std": float(ent.std()) if len(ent) > 1 else 0.0,
            "shares": dict(zip(labels, probs.mean(0).tolist()))}


def rollout(model, bandit, cfg: Config, temperature: float = 1.0) -> dict:
    """Play fresh episodes; entropy of the chosen-arm histogram per episode, reward rate."""
    log = play(model, bandit, cfg.rollout_episodes, cfg.n_rounds, seed=cfg.seed + 1000, temperature=temperature,
               batch_size=cfg.batch_size)
    per_episode = []
    for e in range(cfg.rollout_episodes):
        counts = Counter(a for a, ep in zip(log.actions, log.episode) if ep == e)
        total = sum(counts.values())
        per_episode.append(-sum(n / total * math.log(n / total) for n in counts.values()))
    return {"chosen_entropy": sum(per_episode) / len(per_episode),
            "reward_rate": sum(log.rewards) / len(log.rewards),
            "decision_entropy": float(entropy(log.prob_matrix()).mean())}


def run(cfg: Config, model=None) -> Results:
    """Collect prompts, build the EAST vector, evaluate, write results.json, report.html, east.*."""
    start, out = time.time(), Path(cfg.out)
    torch.manual_seed(cfg.seed)
    model = model or cfg.load_model()
    bandit = Bandit.random(cfg.arms, seed=cfg.seed)
    arm_ids = arm_token_ids(model.tokenizer, bandit.labels)
    log = play(model, bandit, cfg.n_episodes + cfg.n_eval_episodes, cfg.n_rounds, seed=cfg.seed,
               batch_size=cfg.batch_size)
    ent = entropy(log.prob_matrix())
    fit = [i for i, e in enumerate(log.episode) if e < cfg.n_episodes]
    held = [i for i, e in enumerate(log.episode) if e >= cfg.n_episodes]
    vector = east_vector(model, [log.prompts[i] for i in fit], ent[fit], layers=cfg.layer, position=cfg.position,
                         normalization="resid", batch_size=cfg.batch_size)
    prompts = [log.prompts[i] for i in held]

    base_logprobs = arm_logprobs(model, prompts, arm_ids, cfg.batch_size)
    temperature = [{"temperature": t, **summarise(to_distribution(base_logprobs, t), bandit.labels)}
                   for t in cfg.temperatures]
    steering = []
    for c in cfg.coefficients:
        with steer(model, vector, coefficient=c):
            row = {"coefficient": c, **summarise(to_distribution(arm_logprobs(model, prompts, arm_ids,
                                                                               cfg.batch_size)), bandit.labels)}
            if cfg.rollout_episodes:
                row["rollout"] = rollout(model, bandit, cfg)
        logger.info("coefficient %+.2f: entropy %.4f shares %s", c, row["entropy"],
                    {k: round(v, 3) for k, v in row["shares"].items()})
        steering.append(row)
    if cfg.rollout_episodes:
        for row in temperature:
            row["rollout"] = rollout(model, bandit, cfg, row["temperature"])
    for row in temperature:
        logger.info("temperature %.2f: entropy %.4f", row["temperature"], row["entropy"])

    out.mkdir(parents=True, exist_ok=True)
    vector.save(out / "east")
    if cfg.layer > 0:
        to_gguf(vector, out / "east.gguf")
    headline = {**{f"entropy_east_c{row['coefficient']:+g}": {"value": row["entropy"], "ci": row["entropy_ci95"]}
                   for row in steering},
                **{f"entropy_temperature_{row['temperature']:g}": {"value": row["entropy"], "ci": row["entropy_ci95"]}
                   for row in temperature}}
    results = study_results(
        "east_bandit", model, cfg, headline, tables={"steering": steering, "temperature": temperature},
        bandit={"labels": bandit.labels, "reward_probs": bandit.probs},
        collection={"decisions": len(fit), "eval_decisions": len(held), "entropy_mean": float(ent[fit].mean()),
                    "entropy_max": math.log(cfg.arms), "reward_rate": sum(log.rewards) / len(log.rewards)},
        vector={"layer": cfg.layer, "norm": float(vector[cfg.layer].norm()),
                "corr_projection_entropy": vector.extra["corr"][str(cfg.layer)],
                "resid_norm": vector.extra["resid_norm"][str(cfg.layer)]},
        files={"vector": "east.json", "tensors": "east.safetensors", "gguf": "east.gguf" if cfg.layer > 0 else None},
        runtime_s=round(time.time() - start, 1))
    results.write(out)
    write_results_report(results, out / "report.html")
    logger.info("wrote %s/results.json and report.html in %.0f s", out, results["runtime_s"])
    return results


def write_results_report(results: dict, path: Path) -> None:
    """Entropy and arm shares against the coefficient and the temperature (plotly.js inlined)."""
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=2, cols=2, shared_yaxes="rows", subplot_titles=(
        "Action entropy vs EAST coefficient", "Action entropy vs temperature (unsteered)",
        "Arm shares vs coefficient", "Arm shares vs temperature"))
    panels = ((results.tables["steering"], "coefficient"), (results.tables["temperature"], "temperature"))
    for col, (rows, key) in enumerate(panels, 1):
        xs = [r[key] for r in rows]
        fig.add_scatter(x=xs, y=[r["entropy"] for r in rows], mode="lines+markers", name=f"entropy vs {key}",
                        row=1, col=col)
        fig.add_hline(y=results["collection"]["entropy_max"], line_dash="dot", row=1, col=col,
                      annotation_text="uniform")
        for label in results["bandit"]["labels"]:
            fig.add_bar(x=[str(x) for x in xs], y=[r["shares"][label] for r in rows], name=f"arm {label}",
                        legendgroup=label, showlegend=col == 1, row=2, col=col)
    fig.update_layout(barmode="stack", height=800, width=1200,
                      title=f"EAST on a {len(results['bandit']['labels'])}-armed bandit, {results['model']['id']}, "
                            f"layer {results['vector']['layer']}")
    fig.update_xaxes(title_text="coefficient (x mean residual norm)", col=1)
    fig.update_xaxes(title_text="temperature", col=2)
    summary = json.dumps({k: results[k] for k in ("bandit", "collection", "vector")}, indent=2)
    write_report(path, "EAST bandit", [fig, f"<h3>Setup</h3><pre>{html.escape(summary)}</pre>"])


def main(argv=None, model=None) -> Results:
    """Command-line entry point: ``python -m veracity.experiments.steering.east_bandit --help``."""
    return study_main(Config, run, argv, model=model)


if __name__ == "__main__":
    main()
