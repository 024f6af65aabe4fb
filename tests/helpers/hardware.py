"""A hand-checkable target and a tiny space for the cost-table tests."""
from apq.hardware.target import HardwareTarget
from apq.space.config import SpaceConfig, StageConfig
from apq.space.space import SearchSpace


class MacTarget(HardwareTarget):
    """Latency = MACs * 1e-6 ms * a_bits / 8, energy = weights * w_bits * 1e-9 mJ."""

    name = "macs"

    def layer_cost(self, layers):
        return layers.macs * 1e-6 * layers.a_bits / 8, layers.weight_count * layers.w_bits * 1e-9


def tiny_space(bits=(4, 8)):
    return SearchSpace(SpaceConfig(
        name="tiny", input_size=8, input_channels=1, num_classes=2, stem_width=4, stem_stride=1,
        first_block_width=4, final_width=8, stages=(StageConfig(8, 2, (1, 2)),),
        kernels=(3, 5), expand_min=2, expand_max=4, channel_step=4, bits=bits))
