"""notebooks/02_search.ipynb runs headless on a smoke run's artifacts (search + verify.json)."""
import json
from types import SimpleNamespace

import nbformat
from nbclient import NotebookClient
import pytest

from apq.cli import main
from apq.space.registry import create_space
from apq.quant.config import get_quant_config
from apq.verify import run as verify
from apq.verify.config import get_verify_config
from tests.helpers.cli import PROJECT
from tests.helpers.search import baseline_names, save_random_predictor, save_smoke_supernet
from tests.helpers.roots import copy_upstream

NOTEBOOK = PROJECT / "notebooks" / "02_search.ipynb"


def fake_verification(run_dir, monkeypatch):
    """verify.json with stand-in measurements (the real pipeline is tested in test_verify.py)."""
    def measure(supernet, record, data, qconfig, vconfig, seed):
        return {**{k: record[k] for k in verify.COST_FIELDS}, "measured_acc": record["predicted_acc"] - 1.0,
                "test_images": 10, "genome": record["genome"], "arch": record["arch"]}

    monkeypatch.setattr(verify, "verify_candidate", measure)
    verify.verify_run(run_dir, None, SimpleNamespace(test_x=[0] * 10), get_quant_config("smoke"),
                      get_verify_config("smoke"), 0, {})


@pytest.mark.slow
def test_notebook_executes_on_smoke_artifacts(tmp_path, monkeypatch):
    save_random_predictor("fmnist")
    save_smoke_supernet()
    for target, flags in (("fpga", ["--baselines"]), ("bitfusion", ["--latency", "1.2"])):
        args = ["search", "--target", target, "--preset", "smoke", "--generations", "2", "--jobs", "1", "--run", "nb",
                *flags]
        assert main(args) == 0
    fake_verification(tmp_path / "results/fmnist/fpga/nb", monkeypatch)
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(notebook, timeout=120, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    text = "\n".join(o.get("text", "") for c in notebook.cells if c.cell_type == "code" for o in c.outputs)
    assert "2 latest run(s)" in text and "fmnist/fpga" in text and "measured" in text
    images = sum("image/png" in o.get("data", {}) for c in notebook.cells if c.cell_type == "code" for o in c.outputs)
    assert images >= 6  # fronts, two heat maps, two convergence plots, predicted vs measured
    assert json.loads((tmp_path / "results/fmnist/fpga/nb/verify.json").read_text())["baselines"]


QUICKSTART = PROJECT / "notebooks" / "00_quickstart.ipynb"


@pytest.mark.slow
def test_quickstart_searches_and_plots_the_front(smoke_upstream, tmp_path, monkeypatch):
    """The quickstart in an APQ_ROOT holding a copy of the smoke upstream artifacts (the kernel
    inherits it): its one smoke-preset apq.search call checks them, searches and verifies."""
    monkeypatch.setenv("PYTHONPATH", str(PROJECT))  # the kernel imports this checkout's apq
    copy_upstream(smoke_upstream, tmp_path)  # building them from nothing is tests/test_api.py's test
    notebook = nbformat.read(QUICKSTART, as_version=4)
    NotebookClient(notebook, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(PROJECT / "notebooks")}}).execute()
    outputs = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs]
    text = "\n".join(o.get("text", "") for o in outputs)
    run_dir = next((tmp_path / "results/fmnist/fpga").glob("2*"))
    report = json.loads((run_dir / "verify.json").read_text())
    assert str(run_dir) in text and f"measured {report['measured_acc']:.2f}%" in text
    assert set(report["baselines"]) == baseline_names(create_space("fmnist"))
    assert sum("image/png" in o.get("data", {}) for o in outputs) == 1
