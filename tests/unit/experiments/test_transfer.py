"""veracity.experiments.truth.transfer: dataset naming, the matrix on planted data, and a whole run on a tiny model."""

import json

import numpy as np
import pytest
import torch

from veracity.data import StatementDataset
from veracity.experiments.truth import transfer
from veracity.experiments.truth.transfer import TransferConfig, matrices, resolve_datasets, transfer_matrix
from veracity.probes import load_probe


def planted(n: int, d: int, direction: torch.Tensor, seed: int, name: str) -> tuple[torch.Tensor, StatementDataset]:
    """Activations that carry the label along ``direction`` (plus noise), with unique statements."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 2
    x = torch.randn(n, d, generator=g) + 3.0 * (2 * labels[:, None] - 1) * direction
    return x, StatementDataset([f"{name} {i}" for i in range(n)], labels.numpy(), name)


def test_resolve_datasets_names_builtins_files_and_globs(tmp_path):
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "cities.csv").write_text("statement,label\nx,1\ny,0\n")
    (tmp_path / "a" / "facts.csv").write_text("statement,label\nx,1\ny,0\n")
    named = resolve_datasets(f"cities,{tmp_path}/a/*.csv,{tmp_path / 'b' / 'cities.csv'}")
    assert [name for name, _ in named] == ["cities", "a/cities", "facts", "b/cities"]
    assert named[1][1] == str(tmp_path / "a" / "cities.csv")


@pytest.mark.parametrize("spec, message", [
    ("cities,nope", "unknown dataset 'nope'"),
    ("cities,/nowhere/*.csv", "matched no files"),
    ("cities,cities", "listed twice"),
])
def test_resolve_datasets_errors_say_what_to_do(spec, message):
    with pytest.raises(ValueError, match=message):
        resolve_datasets(spec)


def test_config_needs_two_datasets():
    with pytest.raises(ValueError, match="at least two datasets"):
        TransferConfig(datasets="cities")


def test_matrix_transfers_a_shared_direction_and_flips_a_negated_one():
    d = 16
    u = torch.nn.functional.normalize(torch.randn(d), dim=0)
    xa, da = planted(120, d, u, 1, "a")
    xb, db = planted(120, d, u, 2, "b")
    xc, dc = planted(120, d, -u, 3, "c")  # "negated": truth points the other way
    rows, fitted = transfer_matrix({"a": xa, "b": xb, "c": xc}, {"a": da, "b": db, "c": dc})
    mats = matrices(rows, ["a", "b", "c"])
    for probe in ("logistic", "mass_mean"):
        acc = np.array(mats[probe]["accuracy"])
        assert np.diag(acc).min() > 0.9
        assert acc[0, 1] > 0.9 and acc[1, 0] > 0.9
        assert acc[0, 2] < 0.1 and acc[2, 0] < 0.1
        assert set(fitted[probe]) == {"a", "b", "c"}
    n_test = {r["test"]: r["n_test"] for r in rows}
    assert sum(n_test.values()) == 108 and min(n_test.values()) > 20  # 30% of the 360 rows, each its own group


def test_matrix_holds_an_entity_out_of_every_dataset_that_names_it():
    d = 8
    u = torch.nn.functional.normalize(torch.ones(d), dim=0)
    xa, da = planted(100, d, u, 0, "a")
    xb, db = planted(100, d, -u, 1, "b")
    for data in (da, db):  # two datasets about the same 50 entities, two statements each
        data.extra["city"] = [f"c{i // 2}" for i in range(100)]
    splits = transfer.grouped_splits(transfer.entity_groups({"a": da, "b": db}), 0.3, seed=0)
    (train_a, test_a), (train_b, test_b) = splits["a"], splits["b"]
    cities = np.array(da.extra["city"])
    assert not set(cities[train_a]) & set(cities[test_b]) and not set(cities[train_b]) & set(cities[test_a])
    assert np.array_equal(test_a, test_b) and len(test_a) == 30


def test_matrix_drops_test_statements_seen_in_training():
    d = 8
    u = torch.nn.functional.normalize(torch.ones(d), dim=0)
    x, data = planted(100, d, u, 0, "same")
    copy = StatementDataset(list(data.statements), data.labels, "copy")
    rows, _ = transfer_matrix({"same": x, "copy": x.clone()}, {"same": data, "copy": copy},
                              probes={"mass_mean": transfer.PROBES["mass_mean"]})
    cells = {(r["train"], r["test"]): r for r in rows}
    # without an entity column each dataset's rows are their own groups, split apart: the copy's held-out
    # rows include statements "same" trained on, and those are dropped from the cell
    assert cells["copy", "copy"]["n_test"] + cells["same", "same"]["n_test"] == 60
    assert cells["same", "copy"]["n_test"] < cells["copy", "copy"]["n_test"]
    assert cells["copy", "same"]["n_test"] < cells["same", "same"]["n_test"]


def test_run_writes_results_report_and_probes(tiny, tmp_path, monkeypatch):
    cities = "paris rome tokyo berlin lima cairo".split()
    places = "france italy japan germany peru egypt".split()
    for name, verb in (("facts", "is in"), ("neg_facts", "is not in")):
        rows = ["statement,label"]
        for i, city in enumerate(cities):
            for prefix in ("", "the city of "):
                for place, right in ((places[i], 1), (places[(i + 1) % 6], 0)):
                    rows.append(f"{prefix}{city} {verb} {place} .,{right if verb == 'is in' else 1 - right}")
        (tmp_path / f"{name}.csv").write_text("\n".join(rows) + "\n")
    model = tiny("llama")
    monkeypatch.setattr(transfer.TransferConfig, "load_model", lambda self, backend="hf": model)
    out = tmp_path / "out"
    result = transfer.main(["--datasets", f"{tmp_path}/*.csv", "--layer", "2", "--n", "30", "--cache",
                            str(tmp_path / "cache"), "--out", str(out)])
    saved = json.loads((out / "results.json").read_text())
    assert saved["layer"] == 2 and saved["model_id"] == "tiny-llama"
    assert [d["name"] for d in saved["datasets"]] == ["facts", "neg_facts"]
    assert len(saved["tables"]["results"]) == 2 * 2 * 2
    assert np.array(saved["matrices"]["logistic"]["accuracy"]).shape == (2, 2)
    assert result.tables["summary"] == saved["tables"]["summary"]
    assert saved["headline"]["accuracy_logistic_transfer"]["value"] == result.tables["summary"][0]["accuracy (transfer)"]
    html = (out / "report.html").read_text()
    assert html.count('class="plotly-graph-div"') == 2
    probe = load_probe(out / "probes" / "facts__logistic")
    assert probe.provenance["layer"] == 2 and probe.provenance["dataset"] == "facts"


def test_run_reports_a_bad_layer_in_one_line(tiny, tmp_path, monkeypatch, capsys):
    model = tiny("llama")
    monkeypatch.setattr(transfer.TransferConfig, "load_model", lambda self, backend="hf": model)
    with pytest.raises(SystemExit) as done:
        transfer.main(["--datasets", "cities,neg_cities", "--layer", "9", "--out", str(tmp_path)])
    assert done.value.code == 2 and "layer 9 is out of range" in capsys.readouterr().err
