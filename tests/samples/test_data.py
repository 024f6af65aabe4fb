"""Sample data: fixed seeded subsets, split selection; store helpers."""
import pytest
import torch

from apq.errors import UserError
from apq.samples.data import SampleData
from apq.samples.store import SampleHeader, SampleWriter, config_text, sample_path


@pytest.fixture
def data():
    x = torch.arange(40, dtype=torch.float32).view(40, 1, 1, 1)
    y = torch.arange(40) % 10
    return SampleData(x[:20], y[:20], x[20:30], y[20:30], x[30:], y[30:], calib=x[:5])


def test_val_subset_is_fixed_by_its_seed(data):
    a, b = data.with_val_subset(4, seed=1), data.with_val_subset(4, seed=1)
    assert torch.equal(a.val_x, b.val_x) and len(a.val_x) == 4
    assert set(a.val_x.flatten().tolist()) <= set(data.val_x.flatten().tolist())
    assert data.with_val_subset(0, seed=1) is data and data.with_val_subset(99, seed=1) is data


def test_calibration_pool_depends_on_the_seed_only(data):
    assert torch.equal(data.calibration_set(5, 3), data.calibration_set(5, 3))
    assert not torch.equal(data.with_calib_seed(3).calib, data.with_calib_seed(4).calib)
    assert len(data.calibration_set(50, 0)) == len(data.train_x)


def test_split_by_name(data):
    assert data.split("test")[0] is data.test_x and data.split("val")[1] is data.val_y
    with pytest.raises(ValueError):
        data.split("train")


def test_config_mismatch_names_the_differing_settings(tmp_path):
    header = SampleHeader("fp32", "fmnist", 4, 3, "val", config_text({"a": {"b": 1}, "c": 2}))
    path = tmp_path / "s.h5"
    SampleWriter(path, header).close()
    other = SampleHeader("fp32", "fmnist", 4, 3, "val", config_text({"a": {"b": 5}, "c": 2}))
    with pytest.raises(UserError, match=r"a\.b=1 \(this run: 5\)"):
        SampleWriter(path, other)


def test_sample_path_is_under_the_space_data_folder(tmp_path):
    assert sample_path("fmnist", "quant") == tmp_path / "data" / "fmnist" / "samples_quant.h5"
