"""`apq verify`: real quantize + fine-tune + test of a smoke run's winner; resumable per candidate."""
import json
from types import SimpleNamespace

import numpy as np
import pytest

from apq.cli import main
from apq.space.registry import create_space
from apq.quant.config import get_quant_config
from apq.stages.fresh import Stamp, read_stamp, write_stamp
from apq.supernet.config import get_supernet_config
from apq.verify import run as verify
from apq.verify.config import get_verify_config
from apq.verify.stats import pack_correct, unpack_correct
from tests.helpers.search import baseline_names, save_smoke_supernet, search


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
                "arch": record["arch"], "correct_b64": pack_correct(np.arange(10) % 2 == 0)}

    monkeypatch.setattr(verify, "verify_candidate", fake)
    args = (None, SimpleNamespace(test_x=[0] * 10), get_quant_config("smoke"), get_verify_config("smoke"), 0, {})
    interrupt = True
    with pytest.raises(KeyboardInterrupt):
        verify.verify_run(run_dir, *args)
    assert len(json.loads((run_dir / verify.PARTIAL).read_text())["results"]) == 2
    interrupt = False
    report = verify.verify_run(run_dir, *args)
    candidates = 1 + len(baseline_names(create_space("fmnist")))
    assert len(calls) == candidates  # 2 before the interruption, the rest after: none twice
    assert set(report["baselines"]) == baseline_names(create_space("fmnist"))
    assert verify.verify_run(run_dir, *args) == report and len(calls) == candidates  # up to date: nothing redone


def test_verify_compares_the_winner_with_every_baseline_on_the_same_images(tmp_path, capsys):
    search("v3", "--baselines")
    save_smoke_supernet()
    assert main(["verify", "--target", "fpga", "--steps", "1", "--threads", "1"]) == 0
    report = json.loads((tmp_path / "results/fmnist/fpga/v3/verify.json").read_text())
    n = report["test_images"]
    joint = unpack_correct(report["correct_b64"], n)
    assert 100.0 * joint.mean() == pytest.approx(report["measured_acc"])
    assert set(report["baselines"]) == baseline_names(create_space("fmnist"))
    out = capsys.readouterr().out
    for name, base in report["baselines"].items():
        paired = base["paired"]
        assert paired["diff"] == pytest.approx(report["measured_acc"] - base["measured_acc"], abs=1e-9)
        assert paired["ci95"][0] <= paired["diff"] <= paired["ci95"][1] and 0.0 < paired["p_mcnemar"] <= 1.0
        assert paired["discordant"] == [int(np.sum(joint & ~unpack_correct(base["correct_b64"], n))),
                                        int(np.sum(unpack_correct(base["correct_b64"], n) & ~joint))]
        assert f"joint minus {name}: {paired['diff']:+.2f} points" in out


def test_a_report_made_before_the_correctness_bits_is_completed(tmp_path, monkeypatch):
    """An apq-verify/1 report has no per-image results: a rerun verifies again only the candidates
    without them and then compares every baseline; a result without bits is never paired."""
    search("v4", "--baselines")
    run_dir = tmp_path / "results/fmnist/fpga/v4"
    calls = []

    def fake(supernet, record, data, qconfig, vconfig, seed):
        calls.append(record["genome"])
        return {**{k: record[k] for k in verify.COST_FIELDS}, "measured_acc": 40.0 + 10 * len(calls), "test_images": 10,
                "genome": record["genome"], "arch": record["arch"],
                "correct_b64": pack_correct(np.arange(10) < 4 + len(calls))}

    monkeypatch.setattr(verify, "verify_candidate", fake)
    args = (None, SimpleNamespace(test_x=[0] * 10), get_quant_config("smoke"), get_verify_config("smoke"), 0, {})
    verify.verify_run(run_dir, *args)
    report = json.loads((run_dir / verify.REPORT).read_text())
    del report["baselines"]["random"]["correct_b64"]
    (run_dir / verify.REPORT).write_text(json.dumps(report))
    stamp = {k: v for k, v in read_stamp(run_dir / verify.REPORT).items() if k != "fingerprint"}
    write_stamp(run_dir / verify.REPORT, Stamp(**{**stamp, "format": "apq-verify/1"}))
    assert verify.paired(report, report["baselines"]["random"]) == {}
    redone = verify.verify_run(run_dir, *args)
    assert len(calls) == 2 + len(baseline_names(create_space("fmnist")))
    assert calls[-1] == redone["baselines"]["random"]["genome"]
    assert all("paired" in base for base in redone["baselines"].values())
    assert redone["baselines"]["random"]["paired"]["discordant"] == [0, 5]  # joint: 5 of 10 right; random now 10
