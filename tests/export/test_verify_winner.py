"""`apq verify` keeps the fine-tuned joint winner in winner.pt; a missing one is not up to date."""
import json
from types import SimpleNamespace

import pytest
import torch

from apq.cli import main
from apq.presets import get_preset
from apq.quant.config import get_quant_config
from apq.quant.winner import load_winner
from apq.samples.data import load_sample_data
from apq.space.registry import create_space
from apq.supernet.evaluate import evaluate
from apq.verify import run as verify
from apq.verify.config import get_verify_config
from tests.helpers.search import baseline_names, save_smoke_supernet, search


@pytest.mark.slow
def test_verify_writes_the_winner_and_redoes_it_when_missing(tmp_path, monkeypatch):
    search("w1")
    save_smoke_supernet()
    run = tmp_path / "results/fmnist/fpga/w1"
    assert main(["verify", "--target", "fpga", "--steps", "1", "--threads", "1"]) == 0
    report = json.loads((run / "verify.json").read_text())
    assert report["winner_file"] == "winner.pt"
    payload = torch.load(run / "winner.pt", weights_only=True)
    assert payload["spec"]["genome"] == report["genome"] and payload["meta"]["settings"] == report["settings"]

    model, _ = load_winner(run / "winner.pt")  # rebuilt from the spec: the fine-tuned model itself
    data = load_sample_data(create_space("fmnist"), get_preset("smoke"))
    assert evaluate(model, data.test_x, data.test_y, 128).accuracy == report["measured_acc"]

    calls = []
    real = verify.verify_candidate
    monkeypatch.setattr(verify, "verify_candidate", lambda *a: calls.append(a[1]["genome"]) or real(*a))
    assert main(["verify", "--target", "fpga", "--steps", "1", "--threads", "1"]) == 0
    assert calls == []  # up to date
    (run / "winner.pt").unlink()
    assert main(["verify", "--target", "fpga", "--steps", "1", "--threads", "1"]) == 0
    assert calls == [report["genome"]] and (run / "winner.pt").is_file()
    assert json.loads((run / "verify.json").read_text())["measured_acc"] == report["measured_acc"]


def test_a_missing_winner_redoes_only_the_joint_candidate(tmp_path, monkeypatch):
    """Baselines verified under the same settings are reused; only the joint winner is fine-tuned again."""
    search("w2", "--baselines")
    run = tmp_path / "results/fmnist/fpga/w2"
    calls = []

    def fake(supernet, record, data, qconfig, vconfig, seed):
        calls.append(record["genome"])
        return {**{k: record[k] for k in verify.COST_FIELDS}, "measured_acc": 50.0, "test_images": 10,
                "genome": record["genome"], "arch": record["arch"], verify.MODEL: torch.nn.Linear(2, 2), "correct_b64": "AAA="}

    monkeypatch.setattr(verify, "verify_candidate", fake)
    args = (SimpleNamespace(space=create_space("fmnist")), SimpleNamespace(test_x=[0] * 10),
            get_quant_config("smoke"), get_verify_config("smoke"), 0, {})
    report = verify.verify_run(run, *args)
    methods = 1 + len(baseline_names(create_space("fmnist")))
    assert len(calls) == methods and report["winner_file"] == "winner.pt" and verify.MODEL not in report
    assert verify.verify_run(run, *args) == report and len(calls) == methods  # up to date
    (run / "winner.pt").unlink()
    assert verify.verify_run(run, *args) == report and len(calls) == methods + 1 and calls[-1] == report["genome"]
    assert (run / "winner.pt").is_file()
