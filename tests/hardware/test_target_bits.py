"""Bit menus meet targets: a space offering widths a target cannot run is refused in one line."""
import json

import pytest

from apq.errors import UserError
from apq.hardware.cost import CostTable
from apq.hardware.target import create_target, target_names
from apq.space.config import SpaceConfig
from apq.space.registry import create_space
from apq.space.space import SearchSpace
from tests.helpers.cli import apq, assert_user_error


def _space_json(tmp_path, **changes):
    config = {**create_space("fmnist").config.to_dict(), "name": "wide", **changes}
    path = tmp_path / "wide.json"
    path.write_text(json.dumps(config))
    return path


@pytest.mark.parametrize("target", ["bitfusion", "fpga"])
def test_sixteen_bit_space_refused_by_lut_leaving_nothing(tmp_path, target):
    result = apq("lut", "--space", str(_space_json(tmp_path, bits=[2, 4, 16])), "--target", target, root=tmp_path)
    assert_user_error(result, f"target '{target}'", "1..8", "[16]", "bits and fixed_bits")
    assert not (tmp_path / "data" / "wide").exists()


def test_fixed_bits_outside_range_refused_by_space_command(tmp_path):
    path = _space_json(tmp_path, fixed_bits=12)
    result = apq("space", "--space", str(path), "--sample", "2", "--target", "fpga", root=tmp_path)
    assert_user_error(result, "[12]", "within 1..8")


def test_zero_bits_refused_as_a_bad_space_config(tmp_path):
    result = apq("space", "--space", str(_space_json(tmp_path, bits=[0, 4])), root=tmp_path)
    assert_user_error(result, "bad space config", "bit widths", "; fix")


@pytest.mark.parametrize("name", target_names())
def test_every_builtin_target_runs_one_to_eight_bits(name):
    target = create_target(name)
    assert target.bit_range == (1, 8)
    if name != "cpu":  # the cpu target would time every shape; its 2-bit rows are in test_cpu.py
        one_two = SearchSpace(SpaceConfig.from_dict({**create_space("fmnist").config.to_dict(), "bits": [1, 2, 8]}))
        CostTable(one_two, target)  # 1 and 2 bits are accepted
    nine = SearchSpace(SpaceConfig.from_dict({**create_space("fmnist").config.to_dict(), "bits": [2, 9]}))
    with pytest.raises(UserError, match="uses \\[9\\]-bit"):
        CostTable(nine, target)
