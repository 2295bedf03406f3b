"""experiments/notebooks/explore_layers.ipynb runs top to bottom on the embedded model and draws figures."""

from pathlib import Path

import nbformat

NOTEBOOK = Path(__file__).resolve().parents[3] / "experiments" / "notebooks" / "explore_layers.ipynb"
PLOTLY_MIME = "application/vnd.plotly.v1+json"


def test_notebook_is_committed_without_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(not c.outputs and c.execution_count is None for c in code)
