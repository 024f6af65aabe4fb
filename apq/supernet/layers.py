"""Dynamic layers of the supernet: each stores its largest shape and runs a smaller active one.

Every searchable conv (:class:`DynamicPointwise`, :class:`ElasticDepthwise`) carries the two
optional quantizer hooks of :mod:`apq.nn.layers` (``weight_quant``, ``input_quant``), applied to
the active weight and to the conv's input activation, as the static
:class:`~apq.nn.layers.HookedConv2d` of extracted sub-nets does.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from apq.nn.layers import QuantHooks, apply_hook


class DynamicPointwise(nn.Module, QuantHooks):
    """1x1 conv holding (max_out, max_in) weights; runs the first ``in`` x ``out`` channels.

    The input channel count is read from the input tensor; ``active_out`` is set by the supernet.
    """

    def __init__(self, max_in: int, max_out: int):
        super().__init__()
        self.max_in, self.max_out = max_in, max_out
        self.weight = nn.Parameter(torch.empty(max_out, max_in, 1, 1))
        nn.init.kaiming_normal_(self.weight, mode="fan_out")
        self.active_out = max_out
        self._init_hooks()

    def active_weight(self, cin: int) -> torch.Tensor:
        """Weight (active_out, cin, 1, 1): a contiguous view-free slice of the stored weight."""
        return self.weight[: self.active_out, :cin]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = apply_hook(self.weight_quant, self.active_weight(x.shape[1]))
        return F.conv2d(apply_hook(self.input_quant, x), weight)


class ElasticDepthwise(nn.Module, QuantHooks):
    """Depthwise conv with an elastic kernel (once-for-all's kernel transformation).

    Only the largest kernel (C, 1, Kmax, Kmax) is stored. A smaller kernel k is obtained by
    stepping down the sorted kernel list: crop the centre of the current kernel to the next size
    and multiply its flattened k*k taps by a learned (k*k, k*k) matrix shared by all channels of
    this layer (initialised to identity, so at first a small kernel is the plain centre crop).
    The matrices let a small kernel differ from the centre of the large one without a copy of
    the weights per size (Cai et al., ICLR 2020, section 3.3). Padding is k // 2.
    """

    def __init__(self, max_channels: int, kernels: tuple[int, ...], stride: int):
        super().__init__()
        self.kernels = tuple(sorted(kernels))
        self.max_channels, self.stride = max_channels, stride
        kmax = self.kernels[-1]
        self.weight = nn.Parameter(torch.empty(max_channels, 1, kmax, kmax))
        nn.init.kaiming_normal_(self.weight, mode="fan_out")
        self.transforms = nn.ParameterDict({
            self.transform_name(big, small): nn.Parameter(torch.eye(small * small))
            for big, small in zip(self.kernels[:0:-1], self.kernels[-2::-1])})
        self.active_kernel = kmax
        self._init_hooks()

    @staticmethod
    def transform_name(big: int, small: int) -> str:
        return f"{big}to{small}"

    def kernel_weight(self, kernel: int, channels: int) -> torch.Tensor:
        """Active weight (channels, 1, kernel, kernel) derived from the stored largest kernel."""
        if kernel not in self.kernels:
            raise ValueError(f"kernel {kernel} not in {self.kernels}")
        weight = self.weight[:channels]
        size = self.kernels[-1]
        for small in reversed([k for k in self.kernels if k < size and k >= kernel]):
            start = (size - small) // 2
            crop = weight[:, :, start:start + small, start:start + small]
            matrix = self.transforms[self.transform_name(size, small)]
            weight = (crop.reshape(channels, small * small) @ matrix.t()).reshape(channels, 1, small, small)
            size = small
        return weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        channels, k = x.shape[1], self.active_kernel
        weight = apply_hook(self.weight_quant, self.kernel_weight(k, channels))
        return F.conv2d(apply_hook(self.input_quant, x), weight, None, self.stride, k // 2, 1, channels)


class DynamicBatchNorm(nn.Module):
    """Batch norm over the first C channels of a (max_channels) ``nn.BatchNorm2d``.

    Running statistics of the active channels are updated in place. With ``bn.momentum = None``
    the update is a cumulative average over the batches seen since ``reset_running_stats``
    (used by BN re-calibration of one sub-net).
    """

    def __init__(self, max_channels: int, momentum: float = 0.1):
        super().__init__()
        self.bn = nn.BatchNorm2d(max_channels, momentum=momentum)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bn, c = self.bn, x.shape[1]
        factor = 0.0
        if self.training:
            bn.num_batches_tracked += 1
            factor = 1.0 / float(bn.num_batches_tracked) if bn.momentum is None else bn.momentum
        return F.batch_norm(x, bn.running_mean[:c], bn.running_var[:c], bn.weight[:c], bn.bias[:c],
                            self.training, factor, bn.eps)
