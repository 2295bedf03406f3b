"""One package, one command line: the wheel's contents, ``import veracity``, and every subcommand."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch

import veracity as vc
from veracity import cli
from veracity.experiments import STUDIES

ROOT = Path(__file__).resolve().parents[2]


def test_wheel_holds_exactly_one_top_level_package(tmp_path):
    # Build from a copy of the tracked files, as a fresh clone would (and leave no build/ behind).
    source = tmp_path / "src"
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                           capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, files):
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                           "-w", str(tmp_path), str(source)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    (wheel,) = tmp_path.glob("veracity-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {name.split("/", 1)[0] for name in names}
    assert tops == {"veracity", next(t for t in tops if t.endswith(".dist-info"))}
    for needed in ("veracity/__init__.py", "veracity/__main__.py", "veracity/cli.py", "veracity/atomic.py", "veracity/hooks/extract.py",
                   "veracity/probes/ccs.py", "veracity/steering/apply.py", "veracity/data/qa.py",
                   "veracity/experiments/truth/truth_sweep.py", "veracity/probes/splits.py", "veracity/hooks/generation.py",
                   "veracity/experiments/notebooks/explore_layers.ipynb"):
        assert needed in names, needed
    assert not [n for n in names if n.startswith(("veracity/tests", "veracity/benchmarks", "veracity/artifacts"))]
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    assert "veracity = veracity.cli:main" in zipfile.ZipFile(wheel).read(entry).decode()
    # Installed from the wheel, caches and outputs go to the user cache folder (XDG), not into the package.
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    probe = ("import sys; sys.path.insert(0, sys.argv[1]); import veracity.home as h; "
             "print(h.__file__); print(h.veracity_home())")
    env = {k: v for k, v in os.environ.items() if k != "VERACITY_HOME"} | {"XDG_CACHE_HOME": str(tmp_path / "xdg")}
    where, home = subprocess.run([sys.executable, "-c", probe, str(site)], capture_output=True, text=True, check=True,
                                 env=env).stdout.split()
    assert Path(where).is_relative_to(site) and Path(home) == tmp_path / "xdg" / "veracity"


@pytest.mark.parametrize("folder", ["tests", "benchmarks", "artifacts", "docs"])
def test_folders_that_are_not_package_parts_do_not_import(folder):
    with pytest.raises(ModuleNotFoundError, match=f"{folder}/ is not part of the veracity package"):
        __import__(f"veracity.{folder}")


def test_checkout_keeps_its_files_in_artifacts_and_veracity_home_overrides(monkeypatch, tmp_path):
    from veracity.home import veracity_home

    monkeypatch.delenv("VERACITY_HOME", raising=False)
    assert veracity_home() == ROOT / "artifacts"
    monkeypatch.setenv("VERACITY_HOME", str(tmp_path))
    assert veracity_home() == tmp_path


def test_everyday_api_is_in_one_place():
    assert sorted(vc.__all__) == sorted(set(vc.__all__))
    for name in vc.__all__:
        assert getattr(vc, name) is not None, name
    for name in ("load_model", "from_hf", "extract", "load_activations", "steer", "SteeringVector", "LogisticProbe",
                 "MassMeanProbe", "CCS", "PolarityAwareCCS", "PIKHead"):
        assert name in vc.__all__


def test_python_dash_m_veracity_is_the_command():
    module = subprocess.run([sys.executable, "-m", "veracity", "--help"], capture_output=True, text=True, timeout=120)
    assert module.returncode == 0
    for command in ("extract", "run", "export", "info"):
        assert command in module.stdout
    script = Path(sys.executable).parent / "veracity"
    if script.exists():
        assert subprocess.run([str(script), "--help"], capture_output=True, text=True,
                              timeout=120).stdout == module.stdout.replace("__main__.py", "veracity")


@pytest.mark.parametrize("command", ["extract", "run", "export", "info"])
def test_every_option_is_explained(command):
    parser = cli.build_parser()
    sub = parser._subparsers._group_actions[0].choices[command]
    for action in sub._actions:
        if action.dest != "help":
            assert action.help and len(action.help) > 10, f"{command} {action.dest} has no help"


def test_run_lists_and_runs_every_study(capsys):
    with pytest.raises(SystemExit):
        cli.main(["run", "--help"])
    text = capsys.readouterr().out
    assert all(name in text for name in STUDIES)
    for name in STUDIES:
        with pytest.raises(SystemExit) as done:
            cli.main(["run", name, "--help"])
        assert done.value.code == 0
        assert capsys.readouterr().out.startswith(f"usage: veracity run {name}")


@pytest.mark.parametrize(("argv", "message"), [
    (["run", "no_such_study"], "unknown study 'no_such_study'"),
    (["extract", "--input", "missing.txt", "--out", "x"], "--input missing.txt: no such file"),
    (["extract", "--input", "{csv}", "--column", "text", "--out", "x"], "has no column 'text'"),
    (["extract", "--input", "{txt}", "--layers", "a,b", "--out", "x"], "--layers 'a,b'"),
    (["extract", "--input", "{txt}", "--out", "{txt}"], "is a file: pass a folder"),
    (["info", "no-such-model"], "could not load model 'no-such-model'"),
])
def test_bad_input_is_one_line_and_exit_code_2(argv, message, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("VERACITY_DEBUG", raising=False)
    (tmp_path / "t.txt").write_text("one\ntwo\n")
    (tmp_path / "t.csv").write_text("statement,label\na,1\n")
    argv = [a.replace("{txt}", str(tmp_path / "t.txt")).replace("{csv}", str(tmp_path / "t.csv")) for a in argv]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and err.startswith(f"veracity {argv[0]}: error: ")


@pytest.fixture
def tiny_folder(tmp_path, word_tokenizer):
    """A tiny random Llama and its tokenizer saved as a local model folder."""
    from tiny_models import build_tiny

    folder = tmp_path / "tiny-llama"
    model = build_tiny("llama", len(word_tokenizer))
    model.save_pretrained(folder)
    word_tokenizer.save_pretrained(folder)
    return folder


def test_extract_writes_a_resumable_folder_that_load_activations_reads(tiny_folder, tmp_path, capsys):
    texts = [f"the city of {c} is in {p} ." for c, p in
             [("paris", "france"), ("rome", "italy"), ("tokyo", "japan"), ("lima", "peru"), ("cairo", "egypt")]]
    (tmp_path / "in.csv").write_text("statement,label\n" + "".join(f"{t},1\n" for t in texts))
    out = tmp_path / "acts"
    argv = ["extract", "--model", str(tiny_folder), "--input", str(tmp_path / "in.csv"), "--layers", "1,-1",
            "--out", str(out), "--chunk-size", "2", "--batch-size", "3"]
    assert cli.main(argv) == 0
    assert capsys.readouterr().out.strip() == str(out)
    acts = vc.load_activations(out)
    job = vc.hooks.read_job(out)
    assert acts.shape == (5, 2, 64) and job["layers"] == [1, 3] and job["model_id"] == str(tiny_folder)
    model = vc.load_model(str(tiny_folder), device="cpu")
    torch.testing.assert_close(acts, vc.extract(model, texts, layers=[1, 3], progress=False))
    # An interrupted run (a chunk missing) resumes: only that chunk is computed again.
    chunks = sorted(out.glob("chunk_*.safetensors"))
    assert len(chunks) == 3
    kept = chunks[0].stat().st_mtime_ns
    chunks[1].unlink()
    assert cli.main(argv) == 0
    assert chunks[0].stat().st_mtime_ns == kept and chunks[1].is_file()
    torch.testing.assert_close(vc.load_activations(out), acts, rtol=0, atol=0)
    # Another job into the same folder is refused.
    assert cli.main([*argv[:-4], "--layers", "2", *argv[-4:]]) == 2
    assert "already holds activations of another job" in capsys.readouterr().err


def test_info_describes_the_model(tiny_folder, capsys):
    assert cli.main(["info", str(tiny_folder)]) == 0
    text = capsys.readouterr().out
    for line in ("backend           hf", "n_layers          4", "d_model           64", "blocks            model.layers",
                 f"weights from      {tiny_folder}", "layer convention  L = residual stream after block L"):
        assert line in text


def test_chat_prompts_are_built_in_one_place():
    users = [str(p.relative_to(ROOT)) for folder in ("hooks", "probes", "steering", "experiments", "data")
             for p in (ROOT / folder).rglob("*.py") if "apply_chat_template" in p.read_text()]
    assert users == ["data/chat.py"]


def test_no_code_outside_the_adapters_branches_on_the_backend():
    offenders = []
    for folder in ("probes", "steering", "experiments", "data", "hooks"):
        for path in (ROOT / folder).rglob("*.py"):
            if path.name in ("backends.py", "model.py"):
                continue
            text = path.read_text()
            if "backend ==" in text or "backend !=" in text or "hf_model(" in text or "hf_model.generate" in text:
                offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


def test_studies_run_as_modules():
    done = subprocess.run([sys.executable, "-m", "veracity.experiments.truth.truth_sweep", "--help"], capture_output=True,
                          text=True, timeout=120, cwd="/")
    assert done.returncode == 0 and "--dataset" in done.stdout and "--batch-size" in done.stdout


def test_library_modules_import_each_other_without_circles():
    """Every ``from veracity... import`` of hooks, probes, steering and data (at the top or inside a
    function; a submodule import also imports its package) forms an acyclic graph: no module needs a
    function-level import to dodge a circle."""
    import ast
    import graphlib

    packages = ("hooks", "probes", "steering", "data")
    graph: dict[str, set[str]] = {}
    for package in packages:
        for path in (ROOT / package).glob("*.py"):
            name = f"veracity.{package}" if path.stem == "__init__" else f"veracity.{package}.{path.stem}"
            edges = graph.setdefault(name, set())
            for node in ast.walk(ast.parse(path.read_text())):
                if not (isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("veracity.")):
                    continue
                target = node.module.split(".")
                if target[1] not in packages:
                    continue  # a root module (atomic, home) imports nothing of the packages
                if target[1] != package:
                    edges.add(".".join(target[:2]))  # importing veracity.hooks.x runs veracity/hooks/__init__ first
                if len(target) > 2:
                    edges.add(node.module)
    graphlib.TopologicalSorter(graph).prepare()  # raises CycleError naming the circle
