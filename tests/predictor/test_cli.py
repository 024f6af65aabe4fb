"""``apq predictor`` end to end on small SYNTHETIC sample files, and its error paths."""
import json

import pytest
import torch

from apq.cli import main
from apq.predictor.load import load_quant_predictor
from apq.space.encoding import Encoder
from apq.space.registry import create_space
from tests.helpers.cli import apq

FIGURES = ("rmse", "kendall_tau", "pairwise_acc", "pairwise_acc_cost_matched")
METRIC_KEYS = {*FIGURES, *(f"{f}_ci" for f in FIGURES), "n_train", "n_test"}
QUANT_MODELS = {"bits_ignored", "transfer", "scratch", "structured_linear", "structured_mlp", "structured_gene",
                "structured_rank", "structured_arch", "structured_ridge", "ensemble"}


@pytest.mark.slow
def test_end_to_end_writes_checkpoints_and_metrics(smoke_run, monkeypatch):
    root, result = smoke_run
    assert result.returncode == 0, result.stderr
    folder = root / "predictors" / "fmnist"
    assert result.stdout.strip() == str(folder / "metrics.json")
    metrics = json.loads((folder / "metrics.json").read_text())
    assert METRIC_KEYS <= set(metrics["fp32"])
    quant = metrics["quant"]
    assert set(quant) == QUANT_MODELS | {"selected"}
    assert all(METRIC_KEYS <= set(quant[name]) for name in QUANT_MODELS)
    assert all("minus_bits_ignored" in quant[name] for name in QUANT_MODELS - {"bits_ignored"})
    lo, hi = quant["transfer"]["pairwise_acc_ci"]
    assert lo <= quant["transfer"]["pairwise_acc"] <= hi
    selection = metrics["quant_selection"]
    assert quant["selected"] == selection["selected"] not in ("scratch", "bits_ignored", "structured_ridge")
    assert set(selection["scores"]) == QUANT_MODELS - {"scratch"}
    curve = metrics["quant_budget_curve"]
    assert [c["n_train"] for c in curve][:2] == [10, 20] and curve[-1]["n_train"] == metrics["quant"]["transfer"]["n_train"]
    assert all(c["transfer"]["n_seeds"] == 2 and "pairwise_acc" in c["scratch"] for c in curve)
    assert set(metrics["baselines"]["fp32"]) == {"ridge", "random_forest", "gradient_boosting"}
    assert "fp32_predictor" in metrics["baselines"]["quant"]
    assert metrics["fp32"]["n_train"] + metrics["fp32"]["n_test"] == 160
    for kind in ("fp32", "quant"):  # every label kind, judged against held-out accuracy
        reliability = metrics["label_reliability"][kind]
        assert set(reliability) == {"accuracy", "loss", "p_correct"}
        n_test = (metrics["fp32"] if kind == "fp32" else metrics["quant"]["transfer"])["n_test"]
        for figures in reliability.values():
            assert {"perfect_predictor_tau", "perfect_predictor_pairwise", "split_half_tau", "cross_half_tau"} <= set(figures)
            assert figures["n_test"] == n_test
        assert reliability["accuracy"]["true_score_r"] == pytest.approx(1.0)
    coverage = metrics["quant_menu_coverage"]
    assert coverage["n_genomes"] == metrics["quant"]["transfer"]["n_train"] and coverage["min_count"] >= 1
    for kind in ("fp32", "quant"):
        payload = torch.load(folder / f"{kind}.pt", weights_only=True)
        assert payload["space"] == "fmnist" and payload["config"]["settings"]["predictor"]["name"] == "smoke"
        assert payload["samples"]["quant"]["rows"] == 80
    payload = torch.load(folder / "quant.pt", weights_only=True)
    selected_type = {"transfer": "mlp", "ensemble": "ensemble", "structured_ridge": "linear_on_base"}.get(
        quant["selected"], "structured")
    assert payload["network"].get("type", "mlp") == selected_type
    monkeypatch.setenv("APQ_ROOT", str(root))
    assert load_quant_predictor("fmnist").encoding_dim == Encoder(create_space("fmnist")).dim


@pytest.mark.slow
def test_rerun_is_a_no_op(smoke_run, monkeypatch, caplog):
    root, _ = smoke_run
    monkeypatch.setenv("APQ_ROOT", str(root))
    metrics = root / "predictors" / "fmnist" / "metrics.json"
    before = metrics.stat().st_mtime_ns
    with caplog.at_level("INFO"):
        assert main(["predictor", "--preset", "smoke"]) == 0
    assert "up to date" in caplog.text and metrics.stat().st_mtime_ns == before


def _assert_one_line_error(capsys, *words):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("apq: error:"), err
    for word in words:
        assert word in err[0]


def test_missing_samples_exit_2_and_nothing_written(tmp_path, capsys):
    assert main(["predictor", "--preset", "smoke"]) == 2
    _assert_one_line_error(capsys, "samples_fp32.h5", "apq samples")
    assert not (tmp_path / "predictors").exists()


def test_bad_flag_is_one_line(tmp_path):
    result = apq("predictor", "--preset", "huge", root=tmp_path)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "predictors").exists()
