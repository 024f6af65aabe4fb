"""Quantization-aware fine-tune and the end-to-end quantized evaluation."""
import copy

import pytest
import torch

from apq.errors import UserError
from apq.quant.attach import act_quantizers
from apq.quant.config import QUANT_PRESETS, QuantConfig, get_quant_config
from apq.quant.pipeline import evaluate_quantized, quantize_subnet, teacher_subnet
from apq.quant.qat import batch_order, parameter_groups, qat_finetune
from apq.supernet.bn_calibration import batch_norms
from tests.helpers.nets import genome_with_bits

CONFIG = get_quant_config("smoke").override(channels_last=False, qat_batch=8)


@pytest.fixture(scope="module")
def pair(fmnist, supernet, tiny_data):
    """(quantized student, fp32 teacher) of one 4-bit genome, not fine-tuned."""
    genome = genome_with_bits(fmnist, 7, pw_w=4, pw_a=4, dw_w=4, dw_a=4)
    return quantize_subnet(supernet, genome, tiny_data.calib, CONFIG), teacher_subnet(supernet, genome, tiny_data.calib, CONFIG)


def _finetune(pair, tiny_data, config=CONFIG, seed=0, steps=2):
    student, teacher = pair
    return qat_finetune(copy.deepcopy(student), teacher, tiny_data.train_x, tiny_data.train_y, steps, config, seed)


def test_batch_order_is_seeded_and_covers_each_epoch_once():
    order = batch_order(10, 5, 4, seed=3)
    assert order.shape == (5, 4) and torch.equal(order, batch_order(10, 5, 4, seed=3))
    assert sorted(order.flatten()[:10].tolist()) == list(range(10))
    assert not torch.equal(order, batch_order(10, 5, 4, seed=4))


def test_finetune_is_reproducible_and_changes_weights(pair, tiny_data):
    a, b = _finetune(pair, tiny_data), _finetune(pair, tiny_data)
    for (name, pa), pb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(pa, pb), name
    assert not torch.equal(a.blocks[0].expand[0].weight, pair[0].blocks[0].expand[0].weight)
    assert not a.training


def test_fixed_ranges_and_frozen_bn_stay_put(pair, tiny_data):
    tuned = _finetune(pair, tiny_data, CONFIG.override(learn_ranges=False))
    for before, after in zip(act_quantizers(pair[0]), act_quantizers(tuned)):
        assert torch.equal(before.step, after.step)
    for before, after in zip(batch_norms(pair[0]), batch_norms(tuned)):
        assert torch.equal(before.running_mean, after.running_mean)
    learned = _finetune(pair, tiny_data)
    assert any(not torch.equal(b.step, a.step) for b, a in zip(act_quantizers(pair[0]), act_quantizers(learned)))


def test_each_activation_step_learns_at_a_rate_relative_to_its_size(pair):
    student = pair[0]
    groups = parameter_groups(student, CONFIG.override(range_lr=0.05))
    assert groups[0]["peak_lr"] == CONFIG.qat_lr
    quantizing = [q for q in act_quantizers(student) if q.bits is not None]
    assert len(groups) == 1 + len(quantizing) and len({q.step.item() for q in quantizing}) > 1
    for group, quant in zip(groups[1:], quantizing):
        assert group["params"] == [quant.step]
        assert group["peak_lr"] == pytest.approx(0.05 * abs(quant.step.item()))
    n_params = sum(1 for _ in student.parameters())
    assert sum(len(g["params"]) for g in groups) <= n_params
    fixed = parameter_groups(student, CONFIG.override(learn_ranges=False))
    assert len(fixed) == 1 and all(p is not q.step for p in fixed[0]["params"] for q in quantizing)


def test_zero_steps_returns_the_calibrated_model(pair, tiny_data):
    tuned = _finetune(pair, tiny_data, steps=0)
    assert all(torch.equal(p, q) for p, q in zip(tuned.parameters(), pair[0].parameters()))


def test_evaluate_quantized_reports_accuracy_on_the_split(fmnist, supernet, tiny_data):
    genome = genome_with_bits(fmnist, 8, pw_w=6, pw_a=6, dw_w=8, dw_a=4)
    first = evaluate_quantized(supernet, genome, tiny_data, CONFIG, steps=1, split="test", seed=5)
    assert first.count == len(tiny_data.test_x) and 0 <= first.accuracy <= 100 and first.loss > 0
    assert first.model.blocks[0].depthwise[0].input_quant.bits == 4
    again = evaluate_quantized(supernet, genome, tiny_data, CONFIG, steps=1, split="test", seed=5)
    assert (again.accuracy, again.loss) == (first.accuracy, first.loss)
    assert first.result.count == first.count


def test_config_validation_and_presets():
    assert set(QUANT_PRESETS) == {"smoke", "default", "full"}
    with pytest.raises(ValueError):
        QuantConfig("bad", qat_batch=0)
    with pytest.raises(ValueError):
        QuantConfig("bad", hard_weight=0, kd_weight=0)
    with pytest.raises(ValueError):
        QuantConfig("bad", range_lr=0)
    with pytest.raises(UserError):
        get_quant_config("huge")
    with pytest.raises(UserError):
        CONFIG.override(qat_steps=-1)
