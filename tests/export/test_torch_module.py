"""The PyTorch export: a weights_only state dict + JSON spec, rebuilt without the supernet."""
import json

import pytest
import torch

from apq.quant.spec import build_model, model_spec
from apq.export.torch_module import SPEC, STATE, load_torch_export, write_torch_export
from apq.supernet import network


def test_state_dict_reloads_weights_only_into_a_rebuilt_module(trained, tmp_path, monkeypatch):
    spec = model_spec(trained.space, trained.genome)
    assert write_torch_export(tmp_path, trained.model, spec) == [STATE, SPEC]
    state = torch.load(tmp_path / STATE, weights_only=True)
    assert all(isinstance(t, torch.Tensor) for t in state.values())
    assert any(k.endswith("input_quant.step") for k in state)  # the learned activation steps travel too

    def no_supernet(*args, **kwargs):
        raise AssertionError("the supernet must not be needed to rebuild an export")

    monkeypatch.setattr(network.Supernet, "__init__", no_supernet)
    reloaded = load_torch_export(tmp_path).to(memory_format=torch.channels_last)
    x = torch.from_numpy(trained.test_x[:128]).contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        assert torch.equal(reloaded(x), trained.model(x))


def test_spec_is_plain_json_with_what_a_user_needs(trained, tmp_path):
    spec = json.loads(json.dumps(model_spec(trained.space, trained.genome)))
    assert spec["genome"] == trained.genome.tolist() and spec["input_shape"] == [1, 28, 28]
    assert {b["pw_w"] for b in spec["bit_policy"]["blocks"]} == {4, 6, 8}
    assert len(spec["layers"]) == 17 and spec["per_channel"] is True
    model = build_model(spec)
    assert set(model.state_dict()) == set(trained.model.state_dict())


def test_a_spec_for_another_genome_refuses_the_state_dict(trained):
    spec = model_spec(trained.space, trained.genome)
    genome = trained.genome.copy()
    genome[trained.space.slices["mid"].start] += 1  # wider first block
    other = build_model({**spec, **model_spec(trained.space, genome)})
    with pytest.raises(RuntimeError, match="size mismatch"):
        other.load_state_dict(trained.model.state_dict())
