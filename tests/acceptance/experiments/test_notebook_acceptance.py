"""experiments/notebooks/explore_layers.ipynb runs top to bottom on the embedded model and draws figures
(its structure is checked in tests/unit/experiments/test_notebook.py)."""

from pathlib import Path

import nbformat
import pytest

NOTEBOOK = Path(__file__).resolve().parents[3] / "experiments" / "notebooks" / "explore_layers.ipynb"
PLOTLY_MIME = "application/vnd.plotly.v1+json"


@pytest.mark.slow
def test_notebook_runs_and_draws_figures(tmp_path, monkeypatch):
    from nbclient import NotebookClient

    nb = nbformat.read(NOTEBOOK, as_version=4)
    # one intra-op thread: on a shared 2-core runner, two threads ran this notebook's extraction 5x slower
    nb.cells.insert(0, nbformat.v4.new_code_cell("import torch\ntorch.set_num_threads(1)"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", "false")
    client = NotebookClient(nb, kernel_name="python3", timeout=600,
                            resources={"metadata": {"path": str(NOTEBOOK.parents[2])}})
    client.execute()  # raises CellExecutionError on the first failing cell
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    figures = [o for o in outputs if PLOTLY_MIME in o.get("data", {})]
    assert len(figures) == 4  # accuracy by layer, PCA slider, token view, steering curve
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "best logistic layer" in text and "P(true) at the last token" in text and "x norm:" in text
