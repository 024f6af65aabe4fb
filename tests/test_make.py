"""The front door end to end: `make search`, `make verify` and `make export` on the smoke preset.

Runs the Makefile as a user would (the checkout's .venv, already set up by `make test`) with
APQ_ROOT set to a fresh folder: `make search` must build every missing upstream artifact
(supernet, fp32 and quantized samples, predictors), search, verify the winner on the test split,
and a second `make search` must reuse them all.
"""
import json
import os
import subprocess

import pytest

from tests.helpers.cli import PROJECT

SMOKE = ("SPACE=fmnist", "PRESET=smoke")


def make(root, *args, timeout=900):
    env = {**os.environ, "APQ_ROOT": str(root)}
    return subprocess.run(["make", "--no-print-directory", "-C", str(PROJECT), *args], env=env, capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tmp_path_factory.mktemp("make_root")


@pytest.mark.slow
def test_make_search_builds_everything_upstream_then_verifies(root):
    result = make(root, "search", "TARGET=fpga", "SEARCH_FLAGS=--baselines", *SMOKE)
    assert result.returncode == 0, result.stderr[-3000:]
    for artifact in ("data/fmnist/supernet.pt", "data/fmnist/samples_fp32.h5", "data/fmnist/samples_quant.h5",
                     "predictors/fmnist/fp32.pt", "predictors/fmnist/quant.pt", "predictors/fmnist/metrics.json"):
        assert (root / artifact).is_file(), artifact
    run = (root / "results/fmnist/fpga/latest").resolve()
    best, verify = (json.loads((run / name).read_text()) for name in ("best.json", "verify.json"))
    assert verify["genome"] == best["genome"] and 0 <= verify["measured_acc"] <= 100
    assert set(verify["baselines"]) >= {"sequential", "uniform_w8a8"}
    config = json.loads((run / "config.json").read_text())
    assert config["predictor"]["sequential_fp32_predictor"].endswith("predictors/fmnist/fp32.pt")


@pytest.mark.slow
def test_second_make_search_reuses_the_upstream_artifacts(root):
    upstream = [p for folder in ("data/fmnist", "predictors/fmnist") for p in (root / folder).glob("[!.]*.*")]
    before = {p: p.stat().st_mtime_ns for p in upstream}
    assert any(p.name == "supernet.stamp.json" for p in before) and any(p.name == "metrics.stamp.json" for p in before)
    result = make(root, "search", "TARGET=bitfusion", *SMOKE)
    assert result.returncode == 0, result.stderr[-3000:]
    assert {p: p.stat().st_mtime_ns for p in before} == before  # nothing upstream was rebuilt
    assert result.stderr.count("is up to date") >= 2 and "already holds" in result.stderr
    assert (root / "results/fmnist/bitfusion/latest/verify.json").is_file()


@pytest.mark.slow
def test_make_export_writes_onnx_and_torch_of_the_verified_winner(root):
    result = make(root, "export", "TARGET=fpga", *SMOKE)
    assert result.returncode == 0, result.stderr[-3000:]
    folder = root / "results/fmnist/fpga/latest/export"
    report = json.loads((folder / "export.json").read_text())
    assert {"model.onnx", "model.pt"} <= {p.name for p in folder.iterdir()}
    assert abs(report["onnx"]["onnx_acc"] - report["fake_quant_acc"]) <= 0.3
