"""notebooks/01_predictor.ipynb runs headless on the smoke artifacts (APQ_ROOT points at them)."""
import nbformat
from nbclient import NotebookClient
import pytest

from tests.helpers.cli import PROJECT


@pytest.mark.slow
def test_predictor_notebook_executes(smoke_run, monkeypatch):
    root, result = smoke_run
    assert result.returncode == 0, result.stderr
    monkeypatch.setenv("APQ_ROOT", str(root))  # the kernel inherits it; the notebook reads it
    monkeypatch.setenv("APQ_SPACE", "fmnist")
    notebook = nbformat.read(PROJECT / "notebooks" / "01_predictor.ipynb", as_version=4)
    NotebookClient(notebook, timeout=120, kernel_name="python3",
                   resources={"metadata": {"path": str(PROJECT / "notebooks")}}).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert sum("image/png" in o.get("data", {}) for o in outputs) == 2
    text = "".join(o.get("text", "") for o in outputs)
    assert str(root) in text and "transfer" in text
