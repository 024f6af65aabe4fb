"""`apq export` end to end on a hand-made verified run, and its error paths."""
import json

import numpy as np
import pytest
import torch

from apq.cli import main
from apq.quant.winner import save_winner
from apq.presets import get_preset
from apq.search.outputs import point_latest

RUN = "results/fmnist/fpga/r1"


def make_run(root, genome, verified=None):
    """A search run folder (config.json, best.json) and, with ``verified``, its verify.json."""
    run = root / RUN
    run.mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"space": "fmnist", "target": "fpga", "seed": 0,
                                                 "preset": get_preset("smoke").to_dict()}))
    (run / "best.json").write_text(json.dumps({"space": "fmnist", "target": "fpga", "run": "r1",
                                               "genome": genome, "predicted_acc": 80.0}))
    point_latest(run)
    if verified is not None:
        (run / "verify.json").write_text(json.dumps({"run": "r1", "genome": genome, "settings": {"seed": 0},
                                                     "measured_acc": verified, "winner_file": "winner.pt"}))
    return run


def one_error_line(capsys, *words):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("apq: error:"), err
    for word in words:
        assert word in err[0], err[0]


@pytest.fixture
def verified_run(tmp_path, trained):
    run = make_run(tmp_path, trained.genome.tolist(), verified=80.0)
    save_winner(run / "winner.pt", trained.model, trained.space, trained.genome, True,
                {"genome": trained.genome.tolist(), "settings": {"seed": 0}, "measured_acc": 80.0})
    return run


@pytest.mark.slow
def test_export_writes_torch_and_onnx_checked_on_test_images(verified_run, capsys):
    assert main(["export", "--target", "fpga", "--test-images", "1000", "--threads", "1"]) == 0
    folder = verified_run / "export"
    assert sorted(p.name for p in folder.iterdir()) == ["export.json", "model.json", "model.onnx", "model.pt"]
    report = json.loads((folder / "export.json").read_text())
    assert report["test_images"] == 1000 and report["torch_reload"]["identical"]
    onnx_report = report["onnx"]
    assert onnx_report["ok"] and abs(onnx_report["onnx_acc"] - report["fake_quant_acc"]) <= 0.3
    assert onnx_report["max_abs_diff_batch"] <= onnx_report["max_abs_diff"] and "tolerance" in onnx_report
    spec = json.loads((folder / "model.json").read_text())
    assert spec["normalization"]["mean"] == pytest.approx([0.2861], abs=1e-3) and spec["verified"]["measured_acc"] == 80.0
    assert isinstance(torch.load(folder / "model.pt", weights_only=True), dict)
    assert str(folder) in capsys.readouterr().out
    assert not [p for p in verified_run.iterdir() if p.name.startswith(".export")]  # no staging left


def test_export_torch_only_to_another_folder(verified_run, tmp_path):
    out = tmp_path / "mine"
    assert main(["export", str(verified_run), "--format", "torch", "-o", str(out), "--test-images", "200"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["export.json", "model.json", "model.pt"]
    assert not (verified_run / "export").exists()
    report = json.loads((out / "export.json").read_text())
    assert "onnx" not in report and 0.0 <= report["fake_quant_acc"] <= 100.0
    assert main(["export", str(verified_run), "--format", "onnx", "-o", str(out), "--test-images", "200"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["export.json", "model.onnx"]  # the earlier export replaced
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine", "results"]  # nothing staged left


def test_export_will_not_replace_a_folder_it_did_not_write(verified_run, tmp_path, capsys):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("keep me")
    assert main(["export", str(verified_run), "-o", str(tmp_path / "notes"), "--test-images", "10"]) == 2
    one_error_line(capsys, "not an apq export")
    assert [p.name for p in (tmp_path / "notes").iterdir()] == ["todo.txt"]


def test_export_without_verify_is_one_line_and_writes_nothing(tmp_path, capsys):
    run = make_run(tmp_path, [0] * 64)
    assert main(["export", "--target", "fpga"]) == 2
    one_error_line(capsys, "apq verify")
    assert not (run / "export").exists() and sorted(p.name for p in run.iterdir()) == ["best.json", "config.json"]


def test_export_of_a_run_verified_without_winner_pt_asks_to_verify_again(tmp_path, capsys):
    run = make_run(tmp_path, [0] * 64, verified=50.0)
    assert main(["export", str(run)]) == 2
    one_error_line(capsys, "winner.pt", "apq verify")
    assert not (run / "export").exists()


def test_export_refuses_a_stale_winner(verified_run, trained, capsys):
    genome = np.array(trained.genome)
    genome[0] = (genome[0] + 1) % 3  # another depth of the first stage: best.json moved on since verify
    best = json.loads((verified_run / "best.json").read_text())
    (verified_run / "best.json").write_text(json.dumps({**best, "genome": genome.tolist()}))
    assert main(["export", str(verified_run), "--test-images", "10"]) == 2
    one_error_line(capsys, "apq verify")
    assert not (verified_run / "export").exists()


def test_export_of_a_missing_run_is_one_line(tmp_path, capsys):
    assert main(["export", "--target", "fpga"]) == 2
    one_error_line(capsys, "apq search")
