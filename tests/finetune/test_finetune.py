"""`apq finetune` on a smoke run: end to end, up to date, resumed after an interruption,
exported in place of the verified winner, and its user errors."""
import json

import pytest
import torch

from apq.cli import main
from apq.config import preset_config
from apq.finetune import run as finetune
from apq.finetune.config import FinetuneConfig
from apq.presets import get_preset
from apq.quant.winner import load_winner
from apq.samples.data import load_sample_data
from apq.space.registry import create_space
from apq.supernet.checkpoint import load_supernet
from tests.helpers.cli import apq, assert_user_error


def test_finetune_trains_the_winner_and_export_takes_it(run_dir, capsys):
    assert main(["finetune", "--target", "fpga", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    report = json.loads((run_dir / finetune.REPORT).read_text())
    verified = json.loads((run_dir / "verify.json").read_text())
    assert report["genome"] == verified["genome"] and report["steps"] == 6 and report["teacher"] == "largest"
    assert report["test_images"] == verified["test_images"] == 128
    assert report["acc_before"] == pytest.approx(verified["measured_acc"], abs=1.0)  # same model and images
    assert 0 <= report["acc_after"] <= 100 and f"{report['acc_after']:.2f}%" in out
    tuned, payload = load_winner(run_dir / finetune.FINETUNED)
    winner, _ = load_winner(run_dir / "winner.pt")
    assert payload["meta"]["measured_acc"] == report["acc_after"]
    assert any(not torch.equal(a, b) for a, b in zip(tuned.state_dict().values(), winner.state_dict().values()))
    assert not (run_dir / finetune.CHECKPOINT).exists()
    made = (run_dir / finetune.FINETUNED).stat().st_mtime_ns
    assert main(["finetune", "--target", "fpga", "--threads", "1"]) == 0  # up to date: nothing redone
    assert (run_dir / finetune.FINETUNED).stat().st_mtime_ns == made

    assert main(["export", "--target", "fpga", "--format", "torch", "--test-images", "64", "--threads", "1"]) == 0
    assert "exported finetuned.pt" in capsys.readouterr().out
    exported = json.loads((run_dir / "export" / "export.json").read_text())
    assert exported["model"]["file"] == "finetuned.pt" and exported["model"]["source"] == "finetune"
    state = torch.load(run_dir / "export" / "model.pt", weights_only=True)
    assert all(torch.equal(state[k], v) for k, v in tuned.state_dict().items())

    # verified again with other settings: the fine-tuned model belongs to the old winner.pt
    assert main(["verify", "--target", "fpga", "--steps", "2", "--threads", "1"]) == 0
    assert main(["export", "--target", "fpga", "--format", "torch", "--test-images", "64", "--threads", "1"]) == 0
    exported = json.loads((run_dir / "export" / "export.json").read_text())
    assert exported["model"]["file"] == "winner.pt" and "another" in exported["model"]["why"]


def _inputs(run_dir, fconfig):
    space, config = create_space("fmnist"), preset_config("smoke")
    net, meta = load_supernet(space)
    data = load_sample_data(space, get_preset("smoke"), None, config.supernet)
    return net, meta, data, fconfig, config.quant, 0


def test_an_interrupted_finetune_resumes_where_it_stopped(run_dir):
    fconfig = FinetuneConfig("smoke", epochs=1, batch_size=16, warmup_steps=1, checkpoint_every=2, max_steps=6,
                             teacher="subnet")
    args = _inputs(run_dir, fconfig)
    whole = finetune.finetune_run(run_dir, *args)
    expected = load_winner(run_dir / finetune.FINETUNED)[0].state_dict()
    for name in (finetune.FINETUNED, finetune.REPORT, "finetune.stamp.json"):
        (run_dir / name).unlink()
    with pytest.raises(finetune.Interrupted):
        finetune.finetune_run(run_dir, *args, stop_after=3)
    assert torch.load(run_dir / finetune.CHECKPOINT, weights_only=True)["step"] == 3
    assert not (run_dir / finetune.FINETUNED).exists() and not (run_dir / finetune.REPORT).exists()
    resumed = finetune.finetune_run(run_dir, *args)
    assert resumed["acc_after"] == whole["acc_after"] and resumed["teacher"] == "subnet"
    state = load_winner(run_dir / finetune.FINETUNED)[0].state_dict()
    for key, value in expected.items():  # exactly: every draw of a step is seeded by (seed, step)
        assert torch.equal(state[key], value), key
    assert not (run_dir / finetune.CHECKPOINT).exists()


def test_finetune_user_errors_are_one_line(run_dir, tmp_path):
    root = tmp_path
    assert_user_error(apq("finetune", "--epochs", "0", "--target", "fpga", root=root), "--epochs")
    assert_user_error(apq("finetune", "--target", "fpga", "--set", "finetune.teacher=biggest", root=root), "teacher")
    assert_user_error(apq("finetune", "--target", "bitfusion", root=root))  # no run of that target
    (run_dir / "winner.pt").unlink()
    assert_user_error(apq("finetune", "--target", "fpga", root=root), "apq verify")
    (run_dir / "winner.pt").write_bytes(b"not a model")
    assert_user_error(apq("finetune", "--target", "fpga", root=root), "winner.pt")
    assert not (run_dir / finetune.FINETUNED).exists() and not (run_dir / finetune.REPORT).exists()


def test_apq_finetune_is_the_api_function_and_still_the_package():
    import inspect

    import apq

    assert callable(apq.finetune) and {"epochs", "teacher", "run"} <= set(inspect.signature(apq.finetune).parameters)
    assert apq.finetune.run.FINETUNED == "finetuned.pt"  # the package's modules stay reachable
