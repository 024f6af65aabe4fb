"""One small fine-tuned mixed-precision model shared by the export tests (built once per session).

Instead of a trained supernet (``apq supernet --preset smoke``, 20-40 s here) the model is the
smallest sub-net of an untrained (randomised) fmnist supernet, quantized with a bit policy that
holds 4, 6 and 8 bits for weights and for signed and unsigned activations, then fine-tuned with
quantization in the loop (:func:`apq.quant.pipeline.evaluate_quantized`, 60 Adam steps at lr 3e-3,
BN statistics updated) on 20,000 Fashion-MNIST training images: ~75-80 % test accuracy in
about 10 s, enough for accuracy and argmax comparisons to mean something.
"""
from dataclasses import dataclass

import numpy as np
import pytest
import torch

from apq.quant.config import get_quant_config
from apq.samples.data import SampleData
from apq.space.registry import create_space
from apq.supernet.network import Supernet
from tests.helpers.nets import randomize

#: Per searchable block (the smallest sub-net keeps the first block of each of the 4 stages).
MIXED_BITS = {"pw_w": (4, 6, 8, 4), "pw_a": (4, 8, 6, 4), "dw_w": (6, 4, 8, 6), "dw_a": (4, 6, 8, 4)}


@dataclass
class Trained:
    space: object
    genome: np.ndarray
    model: torch.nn.Module  # fine-tuned fake-quantized SubNet, eval mode, CPU, channels-last
    test_x: np.ndarray  # official test split (10,000), normalised as the smoke preset's splits
    test_y: np.ndarray


def mixed_genome(space, net):
    """Smallest sub-net, kernels 3/5/7 and the bits of :data:`MIXED_BITS` on its active blocks."""
    genome = net.smallest_genome()
    active = np.flatnonzero(space.active_blocks(genome[None])[0])
    for gene, values in MIXED_BITS.items():
        for block, bits in zip(active, values):
            genome[space.slices[gene].start + block] = int(np.flatnonzero(space.bit_choices == bits)[0])
    for i, block in enumerate(active):
        genome[space.slices["kernel"].start + block] = i % len(space.kernel_choices)
    return genome


@pytest.fixture(scope="session")
def splits():
    from apq.data.datasets import load_dataset
    from apq.data.splits import make_splits
    from apq.errors import UserError

    try:
        return make_splits(load_dataset("fashion-mnist"), 500, 0)  # the smoke preset's splits
    except UserError as err:
        pytest.skip(f"Fashion-MNIST not available: {err}")


@pytest.fixture(scope="session")
def trained(splits):
    from apq.quant.pipeline import evaluate_quantized

    space = create_space("fmnist")
    torch.manual_seed(0)
    net = randomize(Supernet(space)).eval()
    genome = mixed_genome(space, net)
    train_x, train_y = torch.from_numpy(splits.train_x[:20000]), torch.from_numpy(splits.train_y[:20000])
    data = SampleData(train_x, train_y, torch.from_numpy(splits.val_x[:100]), torch.from_numpy(splits.val_y[:100]),
                      torch.from_numpy(splits.test_x[:10]), torch.from_numpy(splits.test_y[:10]), calib=train_x[:256])
    config = get_quant_config("smoke").override(qat_steps=60, qat_lr=3e-3, qat_batch=64, freeze_bn=False,
                                                bn_calib_images=256, range_calib_images=256)
    result = evaluate_quantized(net, genome, data, config, split="val", seed=0)
    return Trained(space, genome, result.model.cpu().eval(), splits.test_x, splits.test_y)
