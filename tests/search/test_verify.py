"""`apq verify`: real quantize + fine-tune + test of a smoke run's winner; resumable per candidate."""
import json
from types import SimpleNamespace

import pytest

from apq.cli import main
from apq.quant.config import get_quant_config
from apq.supernet.config import get_supernet_config
from apq.verify import run as verify
from apq.verify.config import get_verify_config
from tests.helpers.search import save_smoke_supernet, search


def test_verify_measures_the_winner_on_the_test_split(tmp_path, capsys):
    search("v1")
    save_smoke_supernet()
    assert main(["verify", "--target", "fpga", "--steps", "1", "--threads", "1"]) == 0
    report = json.loads((tmp_path / "results/fmnist/fpga/v1/verify.json").read_text())
    best = json.loads((tmp_path / "results/fmnist/fpga/v1/best.json").read_text())
    assert report["predicted_acc"] == best["predicted_acc"] and report["latency_ms"] == best["latency_ms"]
    assert 0.0 <= report["measured_acc"] <= 100.0 and report["test_images"] == get_supernet_config("smoke").test_subset
    assert report["baselines"] == {} and report["settings"]["verify"]["qat_steps"] == 1
    assert "measured" in capsys.readouterr().out
    assert not (tmp_path / "results/fmnist/fpga/v1" / verify.PARTIAL).exists()


def test_verify_without_a_run_is_one_line(tmp_path, capsys):
    assert main(["verify", "--target", "fpga"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "apq search" in err[0]


def test_verify_resumes_after_an_interruption(tmp_path, monkeypatch):
    search("v2", "--baselines")
    run_dir = tmp_path / "results/fmnist/fpga/v2"
    calls = []

    def fake(supernet, record, data, qconfig, vconfig, seed):
        if len(calls) == 2 and interrupt:
            raise KeyboardInterrupt
        calls.append(record["genome"])
        return {**{k: record[k] for k in verify.COST_FIELDS}, "measured_acc": 50.0, "test_images": 10, "genome": record["genome"],
                "arch": record["arch"]}

    monkeypatch.setattr(verify, "verify_candidate", fake)
    args = (None, SimpleNamespace(test_x=[0] * 10), get_quant_config("smoke"), get_verify_config("smoke"), 0, {})
    interrupt = True
    with pytest.raises(KeyboardInterrupt):
        verify.verify_run(run_dir, *args)
    assert len(json.loads((run_dir / verify.PARTIAL).read_text())["results"]) == 2
    interrupt = False
    report = verify.verify_run(run_dir, *args)
    assert len(calls) == 5  # 2 before the interruption, the other 3 after: none twice
    assert set(report["baselines"]) == {"random", "uniform_w8a8", "uniform_w4a4", "sequential"}
    assert verify.verify_run(run_dir, *args) == report and len(calls) == 5  # up to date: nothing redone
