"""bench/sensitivity.py end to end on SYNTHETIC samples, with the synthetic truth's own probes as its scan."""
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np

from apq.predictor.synthetic import quant_drop, write_synthetic_samples
from apq.quant.sensitivity import largest_genome, probe_genomes

BENCH = Path(__file__).resolve().parents[1] / "bench" / "sensitivity.py"


def load_bench():
    spec = importlib.util.spec_from_file_location("sensitivity_bench", BENCH)
    bench = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = bench
    spec.loader.exec_module(bench)
    return bench


def test_bench_compares_the_prior_with_the_constant_start(fmnist, tmp_path, monkeypatch):
    monkeypatch.setenv("APQ_ROOT", str(tmp_path))
    for kind, rows in (("fp32", 600), ("quant", 300)):
        write_synthetic_samples(fmnist, tmp_path / "data" / "fmnist" / f"samples_{kind}.h5", kind, rows, noise=0.3)
    genomes, where = probe_genomes(fmnist)
    drop = np.zeros((fmnist.n_blocks, 4, len(fmnist.bit_choices)))
    drop[tuple(where.T)] = quant_drop(fmnist, genomes) - quant_drop(fmnist, largest_genome(fmnist)[None])[0]
    (tmp_path / "scan.json").write_text(json.dumps({"scan": {"base_acc": 90.0, "drop": drop.tolist(), "images": 0,
                                                             "seconds": 0.0}}))
    out = tmp_path / "sensitivity.json"
    monkeypatch.setattr(sys, "argv", ["sensitivity.py", "--preset", "smoke", "--scan", str(tmp_path / "scan.json"),
                                      "--out", str(out)])
    assert load_bench().main() == 0
    report = json.loads(out.read_text())
    singles = {"bits_ignored", "transfer", "structured_mlp", "structured_linear", "structured_ridge",
               "structured_prior", "structured_ridge_prior"}
    alternatives = {"drop_by_gene", "drop_toward_prior_10", "drop_toward_prior_100"}
    assert set(report["cross_validation"]) == singles | {"ensemble", "ensemble_prior"} | alternatives
    assert set(report["test"]) == set(report["cross_validation"]) | {"prior_only"}
    assert set(report["paired"]) == {"structured_prior_minus_structured_linear",
                                     "structured_ridge_prior_minus_structured_ridge", "ensemble_prior_minus_ensemble",
                                     *(f"{name}_minus_structured_prior" for name in alternatives)}
    assert report["n_test"] + report["n_pool"] == 300 and report["scan"]["base_acc"] == 90.0
    assert [p["n_train"] for p in report["budget_curve"]] == [10, 20, report["n_pool"]]  # smoke budgets, whole pool
    # The synthetic truth's probes know where 2 bits hurt: the prior starts and ends ahead.
    test = report["test"]
    assert test["prior_only"]["pairwise_acc"] > test["bits_ignored"]["pairwise_acc"]
    assert report["paired"]["structured_prior_minus_structured_linear"]["pairwise_acc"] > 0
    assert all(test[name]["pairwise_acc"] > test["bits_ignored"]["pairwise_acc"] for name in alternatives)
