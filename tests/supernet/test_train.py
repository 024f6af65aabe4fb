"""Progressive shrinking: phase sampling, resume after interruption, artifacts and CLI errors."""
import json

import numpy as np
import pytest
import torch

from apq.data.tensors import TrainData
from apq.nn.training import cosine_lr
from apq.presets import get_preset
from apq.supernet import checkpoint as ckpt
from apq.supernet.config import PHASES, SUPERNET_PRESETS, SupernetConfig
from apq.supernet.network import Supernet
from apq.supernet.train import Interrupted, ProgressiveShrinking, augment, phase_genome, sandwich_genomes
from tests.helpers.cli import apq, assert_user_error


@pytest.mark.parametrize("phase", PHASES)
def test_each_phase_samples_only_its_dimensions(fmnist, phase):
    net = Supernet(fmnist)
    largest = net.largest_genome()
    rows = np.stack([phase_genome(net, phase, np.random.default_rng(s)) for s in range(30)])
    elastic = {"full": (), "kernel": ("kernel",), "depth": ("kernel", "depth"),
               "channels": ("kernel", "depth", "mid")}[phase]
    for gene in ("kernel", "depth", "mid"):
        cols = fmnist.slices[gene]
        varies = (rows[:, cols] != largest[cols]).any()
        assert varies == (gene in elastic), gene


@pytest.mark.parametrize("phase", ["kernel", "channels"])
def test_sandwich_steps_train_the_phase_extremes(fmnist, phase):
    net = Supernet(fmnist)
    rng = np.random.default_rng(0)
    arch = np.r_[fmnist.slices["depth"], fmnist.slices["kernel"], fmnist.slices["mid"]]  # bits do not matter
    assert (phase_genome(net, phase, rng, step=8)[arch] == net.largest_genome()[arch]).all()
    smallest = phase_genome(net, phase, rng, step=5)
    kernels = fmnist.values(smallest[None], "kernel")[0]
    assert (kernels == min(fmnist.config.kernels)).all()
    mids = fmnist.values(smallest[None], "mid")[0]
    expected = [m.min() for m in fmnist.mid_choices] if phase == "channels" else [m.max() for m in fmnist.mid_choices]
    assert mids.tolist() == expected
    assert (phase_genome(net, "full", rng, step=1)[arch] == net.largest_genome()[arch]).all()


def test_cosine_schedule_warms_up_and_decays():
    lrs = [cosine_lr(s, 100, 0.1, 10) for s in range(100)]
    assert lrs[0] == pytest.approx(0.01) and max(lrs) <= 0.1 and lrs[-1] < 1e-4
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:]))


def test_augment_shifts_and_flips_but_keeps_shape():
    x = torch.arange(2 * 28 * 28, dtype=torch.float32).reshape(2, 1, 28, 28)
    out = augment(x, torch.Generator().manual_seed(0), pad=2)
    assert out.shape == x.shape and not torch.equal(out, x)
    same = augment(x, torch.Generator().manual_seed(0), pad=2)
    assert torch.equal(out, same)


def test_config_validation():
    with pytest.raises(ValueError):
        SupernetConfig("bad", epochs_kernel=0)
    with pytest.raises(ValueError):
        SupernetConfig("bad", batch_size=0)
    assert set(SUPERNET_PRESETS) == {"smoke", "default", "full"}


def _trainer(space, path, init_seed=0, recipe="progressive"):
    config = SUPERNET_PRESETS["smoke"].override(max_steps_per_phase=2 if recipe == "progressive" else 3, checkpoint_every=1, batch_size=8,
                                                eval_batch=16, recipe=recipe)
    gen = torch.Generator().manual_seed(5)
    data = TrainData(torch.randn(20, 1, 28, 28, generator=gen), torch.randint(0, 10, (20,), generator=gen))
    torch.manual_seed(init_seed)
    net = Supernet(space).to(memory_format=torch.channels_last)
    meta = ckpt.make_meta(space, config, get_preset("smoke"))
    return ProgressiveShrinking(net, data, config, meta, seed=0, path=path, device=torch.device("cpu"))


def test_resumed_run_ends_in_the_same_state(fmnist, tmp_path):
    full = _trainer(fmnist, tmp_path / "a.pt")
    full.run()
    cut = _trainer(fmnist, tmp_path / "b.pt")
    with pytest.raises(Interrupted):
        cut.run(stop_after=3)  # counted at periodic saves only: mid-phase of the third phase
    payload = ckpt.read(tmp_path / "b.pt", ckpt.CHECKPOINT_FORMAT)
    assert (payload["phase"], payload["step"]) == (2, 1) and payload["teacher_logits"] is not None
    resumed = _trainer(fmnist, tmp_path / "b.pt", init_seed=123)  # a different init is overwritten by the load
    resumed.load(payload)
    resumed.run()
    assert resumed.phase == len(PHASES) and resumed.channels_sorted
    for key, value in full.net.state_dict().items():  # exactly: every draw is seeded by (seed, phase, step)
        assert torch.equal(resumed.net.state_dict()[key], value), key
    assert [h["phase"] for h in resumed.history] == list(PHASES)


def test_sandwich_step_trains_largest_smallest_and_random_subnets(fmnist):
    net = Supernet(fmnist)
    genomes = sandwich_genomes(net, np.random.default_rng(0), 2)
    arch = np.r_[fmnist.slices["depth"], fmnist.slices["kernel"], fmnist.slices["mid"]]
    assert len(genomes) == 4
    assert (genomes[0][arch] == net.largest_genome()[arch]).all()
    assert (genomes[1][arch] == net.smallest_genome()[arch]).all()
    assert not (genomes[2][arch] == genomes[3][arch]).all()
    assert SupernetConfig("x", recipe="sandwich").phases == ("sandwich",)
    with pytest.raises(ValueError, match="recipe"):
        SupernetConfig("bad", recipe="bignas")


def test_sandwich_recipe_distils_in_place_and_resumes_exactly(fmnist, tmp_path, monkeypatch):
    from apq.supernet import train

    seen = []
    real_kd = train.kd_loss
    monkeypatch.setattr(train, "kd_loss", lambda s, t, temp: seen.append(t.requires_grad) or real_kd(s, t, temp))
    full = _trainer(fmnist, tmp_path / "a.pt", recipe="sandwich")
    before = {k: v.clone() for k, v in full.net.state_dict().items()}
    full.run()
    assert full.phase_steps(0) == 3 and seen == [False] * 9  # 3 students per step, on the largest's detached logits
    assert full.teacher_logits is None and [h["phase"] for h in full.history] == ["sandwich"]
    changed = [k for k, v in full.net.state_dict().items() if not torch.equal(before[k], v)]
    assert any("blocks" in k for k in changed)
    cut = _trainer(fmnist, tmp_path / "b.pt", recipe="sandwich")
    with pytest.raises(Interrupted):
        cut.run(stop_after=2)
    payload = ckpt.read(tmp_path / "b.pt", ckpt.CHECKPOINT_FORMAT)
    assert (payload["phase"], payload["step"]) == (0, 2)
    resumed = _trainer(fmnist, tmp_path / "b.pt", init_seed=123, recipe="sandwich")
    resumed.load(payload)
    resumed.run()
    for key, value in full.net.state_dict().items():
        assert torch.equal(resumed.net.state_dict()[key], value), key


def test_smoke_cli_writes_loadable_artifacts_and_is_then_up_to_date(smoke_root):
    out = smoke_root / "data" / "fmnist" / "supernet.pt"
    payload = torch.load(out, weights_only=True)
    assert payload["meta"]["space"] == "fmnist" and payload["channels_sorted"]
    report = json.loads(out.with_suffix(".json").read_text())
    for key in ("largest_test_acc", "smallest_test_acc", "train_seconds", "supernet_config", "preset", "space_config"):
        assert key in report
    assert 0 <= report["smallest_test_acc"] <= 100 and [p["phase"] for p in report["phases"]] == list(PHASES)
    assert not (out.parent / "supernet.ckpt.pt").exists()
    from apq.space.registry import create_space
    net, meta = ckpt.load_supernet(create_space("fmnist"), out)
    assert meta["supernet_config"]["name"] == "smoke" and isinstance(net, Supernet)
    again = apq("supernet", "--preset", "smoke", root=smoke_root)
    assert again.returncode == 0 and "up to date" in again.stderr


def _foreign(path, space_name):
    ckpt.write(path, {"format": ckpt.CHECKPOINT_FORMAT if path.name.endswith("ckpt.pt") else ckpt.FORMAT,
                      "meta": {"space": space_name, "space_config": {}}, "state_dict": {}})


@pytest.mark.parametrize("name", ["supernet.ckpt.pt", "supernet.pt"])
def test_a_file_of_another_space_is_refused(tmp_path, name):
    path = tmp_path / "data" / "fmnist" / name
    _foreign(path, "imagenet-apq")
    assert_user_error(apq("supernet", "--preset", "smoke", root=tmp_path), "imagenet-apq", "fmnist")


def test_a_checkpoint_of_other_settings_is_refused(tmp_path, fmnist):
    path = tmp_path / "data" / "fmnist" / "supernet.ckpt.pt"
    meta = ckpt.make_meta(fmnist, SUPERNET_PRESETS["default"], get_preset("default"))
    ckpt.write(path, {"format": ckpt.CHECKPOINT_FORMAT, "meta": meta})
    assert_user_error(apq("supernet", "--preset", "smoke", root=tmp_path), "default", "smoke")


def test_load_supernet_refuses_another_space(tmp_path, fmnist):
    path = tmp_path / "other.pt"
    _foreign(path, "imagenet-apq")
    from apq.errors import UserError
    with pytest.raises(UserError, match="imagenet-apq"):
        ckpt.load_supernet(fmnist, path)


def test_garbage_file_is_a_user_error(tmp_path):
    path = tmp_path / "data" / "fmnist" / "supernet.ckpt.pt"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a checkpoint")
    assert_user_error(apq("supernet", "--preset", "smoke", root=tmp_path), "supernet.ckpt.pt")


def test_a_space_without_a_loadable_dataset_is_refused(tmp_path):
    assert_user_error(apq("supernet", "--space", "imagenet-apq", "--preset", "smoke", root=tmp_path), "imagenet")
    assert not (tmp_path / "data").exists()
