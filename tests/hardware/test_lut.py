"""LUT files: both formats round-trip, bad files are refused with a UserError."""
import json

import numpy as np
import pytest

from apq.errors import UserError
from apq.hardware.cost import CostTable, block_option_layers
from apq.hardware.lut import distinct_layers, load_lut_target, write_lut
from apq.space.genome import Rules, sample
from apq.space.genome import ForbiddenChoice
from tests.helpers.hardware import MacTarget, tiny_space


class RuledTarget(MacTarget):
    forbidden = (ForbiddenChoice("kernel", 5, "dw_a", 4, "test"),)

    def layer_cost(self, layers):
        lat, energy = super().layer_cost(layers)
        lat = np.where((layers.kernel == 5) & layers.is_depthwise & (layers.a_bits == 4), np.nan, lat)
        return lat, energy


def _written(tmp_path, fmt, target=None, bits=(4, 8)):
    space, target = tiny_space(bits), target or MacTarget()
    layers = distinct_layers(list(block_option_layers(space)))
    fixed = target.fixed_cost(space.head_layers(), space.tail_layers())
    return space, target, write_lut(tmp_path / f"t.{fmt}.json", layers, target, fixed, space.name, fmt)


@pytest.mark.parametrize("bits", [(4, 8), (2, 4, 8)])
@pytest.mark.parametrize("fmt", ["own", "apq"])
def test_round_trip_gives_identical_costs(tmp_path, fmt, bits):
    space, target, path = _written(tmp_path, fmt, RuledTarget(), bits)
    loaded = load_lut_target(path)
    rules = Rules(space, target.forbidden)
    genomes = sample(space, 200, np.random.default_rng(0), rules)
    a = CostTable(space, target).evaluate(genomes)
    b = CostTable(space, loaded).evaluate(genomes)
    np.testing.assert_allclose(a.latency_ms, b.latency_ms, rtol=1e-12)
    np.testing.assert_allclose(a.energy_mj, b.energy_mj, rtol=1e-12)
    assert [f.gene_a for f in loaded.forbidden] == ["kernel"]


def _mangle(path, mutate):
    data = json.loads(path.read_text())
    mutate(data)
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize("mutate,match", [
    (lambda d: d["rows"][0].__setitem__(8, -1.0), "negative or NaN"),
    (lambda d: d["rows"][0].__setitem__(8, float("nan")), "negative or NaN"),
    (lambda d: d.pop("head"), "head"),
    (lambda d: d["rows"][0].pop(), "row 0"),
])
def test_bad_own_format_refused(tmp_path, mutate, match):
    _, _, path = _written(tmp_path, "own")
    with pytest.raises(UserError, match=match):
        load_lut_target(_mangle(path, mutate))


def test_bad_apq_format_refused(tmp_path):
    _, _, path = _written(tmp_path, "apq")
    original = path.read_text()
    with pytest.raises(UserError, match="tail"):
        load_lut_target(_mangle(path, lambda d: d.pop("tail")))
    path.write_text(original)
    key = next(k for k in json.loads(path.read_text()) if k.startswith("("))
    with pytest.raises(UserError, match="negative or NaN"):
        load_lut_target(_mangle(path, lambda d: d[key].__setitem__("energy", -2)))


def test_missing_entry_refused_when_costing(tmp_path):
    space, _, path = _written(tmp_path, "own")
    _mangle(path, lambda d: d["rows"].pop(3))
    with pytest.raises(UserError, match="missing"):
        CostTable(space, load_lut_target(path))


@pytest.mark.parametrize("content", ["not json", "[1, 2]", ""])
def test_unreadable_file_refused(tmp_path, content):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(UserError):
        load_lut_target(path)
