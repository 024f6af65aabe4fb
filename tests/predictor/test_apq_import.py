"""Import of APQ's quantization-aware predictor: our forward equals APQ's architecture by hand."""
import json

import numpy as np
import pytest
import torch

from apq.cli import main
from apq.errors import UserError
from apq.predictor.apq_import import convert_apq_state_dict, import_apq_predictor
from apq.predictor.load import load_quant_predictor, predictor_path
from apq.space.encoding import Encoder
from apq.space.genome import sample
from apq.space.registry import create_space

HIDDEN = 400


def apq_state_dict(fp32_dim=520, bit_dim=252, hidden=HIDDEN, seed=0) -> dict:
    """Random weights with the shapes and key names of APQ's acc_quant.pt."""
    g = torch.Generator().manual_seed(seed)
    shapes = {"layers.0.0": (hidden, fp32_dim), "layers.1.0": (hidden, hidden), "layers.2.0": (hidden, hidden),
              "quantize_fc": (hidden, bit_dim), "regressor": (1, hidden)}
    state = {}
    for name, (out, inp) in shapes.items():
        state[f"{name}.weight"] = torch.randn(out, inp, generator=g) / inp ** 0.5
        state[f"{name}.bias"] = torch.randn(out, generator=g) * 0.1
    state["regressor.bias"] += 0.7  # APQ predicts a fraction of 1
    return state


def apq_forward(state: dict, x: torch.Tensor) -> torch.Tensor:
    """APQ's MLP written out: layers[0](x_fp32) + quantize_fc(x_bits), two more layers, regressor."""
    lin = lambda name, h: h @ state[f"{name}.weight"].T + state[f"{name}.bias"]
    h = torch.relu(lin("layers.0.0", x[:, :520])) + lin("quantize_fc", x[:, 520:])
    h = torch.relu(lin("layers.1.0", h))
    h = torch.relu(lin("layers.2.0", h))
    return lin("regressor", h).squeeze(-1)


@pytest.fixture(scope="module")
def apq_encodings():
    space = create_space("imagenet-apq")
    return Encoder(space).encode(sample(space, 64, np.random.default_rng(0)))


def test_forward_matches_apq_times_100(apq_encodings):
    state = apq_state_dict()
    net = convert_apq_state_dict(state, create_space("imagenet-apq")).eval()
    x = torch.from_numpy(apq_encodings)
    with torch.no_grad():
        assert torch.allclose(net(x), 100 * apq_forward(state, x), atol=1e-4)


def test_cli_import_then_load_for_search(tmp_path, apq_encodings):
    state = {"state_dict": {f"module.{k}": v for k, v in apq_state_dict(seed=1).items()}}
    torch.save(state, tmp_path / "acc_quant.pt")
    assert main(["predictor", "--space", "imagenet-apq", "--import-apq", str(tmp_path / "acc_quant.pt")]) == 0
    predictor = load_quant_predictor("imagenet-apq")
    assert predictor.encoding_dim == 772
    expected = 100 * apq_forward(apq_state_dict(seed=1), torch.from_numpy(apq_encodings)).numpy()
    assert np.allclose(predictor.predict(apq_encodings), expected, atol=1e-3)
    assert torch.load(predictor_path("imagenet-apq", "quant"), weights_only=True)["source"] == "apq-import"


@pytest.mark.slow
def test_cli_import_then_search_end_to_end(tmp_path):
    """`apq predictor --import-apq` then `apq search` on imagenet-apq, both as a user runs them."""
    from apq.hardware.cost import CostTable
    from apq.hardware.target import create_target
    from apq.search.constraint import cost_bounds
    from apq.space.genome import Rules
    from tests.helpers.cli import apq

    torch.save({"state_dict": apq_state_dict(seed=2)}, tmp_path / "acc_quant.pt")
    imported = apq("predictor", "--space", "imagenet-apq", "--import-apq", str(tmp_path / "acc_quant.pt"),
                   root=tmp_path, timeout=300)
    assert imported.returncode == 0, imported.stderr
    table = CostTable(create_space("imagenet-apq"), create_target("bitfusion"))
    low, high = cost_bounds(table, Rules(table.space, table.target.forbidden), "latency_ms")
    limit = float(f"{(low + high) / 2:.6g}")  # feasible: the midpoint of the space's latency range
    searched = apq("search", "--space", "imagenet-apq", "--target", "bitfusion", "--preset", "smoke",
                   "--latency", str(limit), "--run", "e2e", root=tmp_path, timeout=600)
    assert searched.returncode == 0, searched.stderr
    best = json.loads((tmp_path / "results" / "imagenet-apq" / "bitfusion" / "e2e" / "best.json").read_text())
    # random APQ weights: the predicted accuracy is a finite number, not a plausible percentage
    assert np.isfinite(best["predicted_acc"]) and best["latency_ms"] <= limit


def test_wrong_space_refused_without_writing(tmp_path, capsys):
    torch.save(apq_state_dict(hidden=8), tmp_path / "acc_quant.pt")
    assert main(["predictor", "--space", "fmnist", "--import-apq", str(tmp_path / "acc_quant.pt")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "520 fp32 + 252 bit" in err[0] and "240 + 160" in err[0]
    assert not predictor_path("fmnist", "quant").exists()


def test_foreign_keys_and_files_refused(tmp_path):
    space = create_space("imagenet-apq")
    with pytest.raises(UserError, match="not APQ's quantization-aware predictor"):
        convert_apq_state_dict({"fc.weight": torch.zeros(2, 2)}, space)
    bad = {**apq_state_dict(hidden=8), "layers.1.0.weight": torch.zeros(5, 8)}
    with pytest.raises(UserError, match="inconsistent layer shapes"):
        convert_apq_state_dict(bad, space)
    with pytest.raises(UserError, match="no APQ predictor checkpoint"):
        import_apq_predictor(tmp_path / "nothing.pt", space)
    (tmp_path / "junk.pt").write_text("junk")
    with pytest.raises(UserError, match="cannot read"):
        import_apq_predictor(tmp_path / "junk.pt", space)
