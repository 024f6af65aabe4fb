"""The once-for-all supernet of a search space and extraction of static sub-nets.

Geometry follows :class:`apq.space.space.SearchSpace` exactly (so hardware costs describe the
network that is trained): a fixed stem (3x3 conv, ``stem_stride``) and first block (depthwise 3x3
+ pointwise, expand ratio 1), then the searchable MobileNetV2 inverted-residual blocks (1x1
expand -> kxk depthwise -> 1x1 project, ReLU6, residual when stride 1 and cin == cout), then the
fixed final 1x1 conv, global average pooling and a linear classifier.

A sub-net is a genome (see :mod:`apq.space.genome`): per stage the depth (a stage keeps its first
d blocks), per block the depthwise kernel and the middle channel count (the first ``mid``
channels, which channel sorting makes the most important ones). Bit genes are ignored here.
"""
from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

from apq.space.space import BlockShape, SearchSpace
from apq.nn.layers import HookedConv2d
from apq.supernet.layers import DynamicBatchNorm, DynamicPointwise, ElasticDepthwise


def conv_bn(cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1, act: bool = True) -> nn.Sequential:
    """Static conv (no bias, padding k//2) + batch norm (+ ReLU6)."""
    layers = [HookedConv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
    return nn.Sequential(*layers, nn.ReLU6(inplace=True)) if act else nn.Sequential(*layers)


class FirstBlock(nn.Module):
    """Fixed first block: depthwise 3x3 + ReLU6, pointwise (linear), residual when shapes allow."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.depthwise = conv_bn(cin, cin, 3, groups=cin)
        self.project = conv_bn(cin, cout, 1, act=False)
        self.residual = cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.project(self.depthwise(x))
        return x + out if self.residual else out


class Tail(nn.Module):
    """Fixed final 1x1 conv + ReLU6, global average pool and linear classifier -> logits (N, classes)."""

    def __init__(self, cin: int, width: int, classes: int):
        super().__init__()
        self.final = conv_bn(cin, width, 1)
        self.classifier = nn.Linear(width, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.final(x).mean(dim=(2, 3)))


class DynamicBlock(nn.Module):
    """Searchable inverted-residual block with elastic kernel and middle channels."""

    def __init__(self, shape: BlockShape, max_mid: int, kernels: tuple[int, ...]):
        super().__init__()
        self.shape = shape
        self.expand = DynamicPointwise(shape.cin, max_mid)
        self.expand_bn = DynamicBatchNorm(max_mid)
        self.depthwise = ElasticDepthwise(max_mid, kernels, shape.stride)
        self.depthwise_bn = DynamicBatchNorm(max_mid)
        self.project = DynamicPointwise(max_mid, shape.cout)
        self.project_bn = DynamicBatchNorm(shape.cout)
        self.residual = shape.stride == 1 and shape.cin == shape.cout
        self.act = nn.ReLU6(inplace=True)

    def set_active(self, kernel: int, mid: int) -> None:
        self.expand.active_out = int(mid)
        self.depthwise.active_kernel = int(kernel)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.act(self.expand_bn(self.expand(x)))
        h = self.act(self.depthwise_bn(self.depthwise(h)))
        h = self.project_bn(self.project(h))
        return x + h if self.residual else h

    @torch.no_grad()
    def sort_channels(self) -> None:
        """Re-order middle channels by importance, most important first; the function is unchanged.

        Importance of a middle channel = L1 norm of the projection weights reading it (how much
        it can move the block output), as once-for-all ranks channels before elastic width.
        """
        order = torch.argsort(self.project.weight.abs().sum(dim=(0, 2, 3)), descending=True)
        self.expand.weight.copy_(self.expand.weight[order])
        self.depthwise.weight.copy_(self.depthwise.weight[order])
        self.project.weight.copy_(self.project.weight[:, order])
        for norm in (self.expand_bn.bn, self.depthwise_bn.bn):
            for tensor in (norm.weight, norm.bias, norm.running_mean, norm.running_var):
                tensor.copy_(tensor[order])


class StaticBlock(nn.Module):
    """A fixed inverted-residual block: what :meth:`Supernet.extract` makes of a DynamicBlock."""

    def __init__(self, shape: BlockShape, kernel: int, mid: int):
        super().__init__()
        self.kernel, self.mid = kernel, mid
        self.expand = conv_bn(shape.cin, mid, 1)
        self.depthwise = conv_bn(mid, mid, kernel, shape.stride, groups=mid)
        self.project = conv_bn(mid, shape.cout, 1, act=False)
        self.residual = shape.stride == 1 and shape.cin == shape.cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.project(self.depthwise(self.expand(x)))
        return x + h if self.residual else h


class SubNet(nn.Module):
    """Standalone static sub-net. ``block_ids`` are the supernet block indices it kept."""

    def __init__(self, stem: nn.Module, first: nn.Module, blocks: list[StaticBlock], tail: nn.Module,
                 block_ids: list[int]):
        super().__init__()
        self.stem, self.first, self.tail = stem, first, tail
        self.blocks = nn.ModuleList(blocks)
        self.block_ids = list(block_ids)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.first(self.stem(x))
        for block in self.blocks:
            x = block(x)
        return self.tail(x)


def extreme_genome(space: SearchSpace, largest: bool) -> np.ndarray:
    """Genome (n_genes,) of the largest (max depth, kernel and channels) or smallest sub-net of
    ``space``; every bit gene at choice index 0."""
    genome = np.zeros(space.n_genes, dtype=np.int64)
    if largest:
        # Choice tables are sorted ascending, so the largest value is the last index.
        for gene in ("depth", "kernel", "mid"):
            genome[space.slices[gene]] = space.cardinality[space.slices[gene]] - 1
    return genome


class Supernet(nn.Module):
    """Once-for-all supernet of ``space``; :meth:`set_active` picks the sub-net ``forward`` runs.

    Input (N, C, H, W) float32 normalised images; output logits (N, num_classes).
    """

    def __init__(self, space: SearchSpace):
        super().__init__()
        cfg = space.config
        self.space = space
        self.stem = conv_bn(cfg.input_channels, cfg.stem_width, 3, cfg.stem_stride)
        self.first = FirstBlock(cfg.stem_width, cfg.first_block_width)
        self.blocks = nn.ModuleList(
            DynamicBlock(shape, int(mids.max()), cfg.kernels) for shape, mids in zip(space.blocks, space.mid_choices))
        self.tail = Tail(cfg.stages[-1].width, cfg.final_width, cfg.num_classes)
        self.active_depth = [int(d.max()) for d in space.depth_choices]
        self.set_active(self.largest_genome())

    # ----- sub-net choice ------------------------------------------------------------
    def largest_genome(self) -> np.ndarray:
        """Genome (n_genes,) of the largest sub-net (max depth, kernel and channels; bits index 0)."""
        return self._extreme_genome(largest=True)

    def smallest_genome(self) -> np.ndarray:
        """Genome (n_genes,) of the smallest sub-net (min depth, kernel and channels)."""
        return self._extreme_genome(largest=False)

    def _extreme_genome(self, largest: bool) -> np.ndarray:
        return extreme_genome(self.space, largest)

    def set_active(self, genome: np.ndarray) -> None:
        """Make ``forward`` run the sub-net of ``genome`` (n_genes,) int choice indices."""
        row = np.asarray(genome, dtype=np.int64)[None, :]
        self.active_depth = [int(d) for d in self.space.values(row, "depth")[0]]
        kernels, mids = self.space.values(row, "kernel")[0], self.space.values(row, "mid")[0]
        for block, kernel, mid in zip(self.blocks, kernels, mids):
            block.set_active(int(kernel), int(mid))

    def active_block_ids(self) -> list[int]:
        """Indices of the blocks the active sub-net runs (a stage keeps its first d blocks)."""
        return [i for i, b in enumerate(self.space.blocks) if b.position < self.active_depth[b.stage]]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.first(self.stem(x))
        for i in self.active_block_ids():
            x = self.blocks[i](x)
        return self.tail(x)

    def sort_channels(self) -> None:
        """Rank every block's middle channels by importance (see :meth:`DynamicBlock.sort_channels`)."""
        for block in self.blocks:
            block.sort_channels()

    # ----- extraction -----------------------------------------------------------------
    @torch.no_grad()
    def extract(self, genome: np.ndarray) -> SubNet:
        """Standalone :class:`SubNet` of ``genome`` (:func:`static_subnet`) with copies of this
        supernet's weights and BN statistics, on its device, in its train/eval mode.

        In eval mode it computes the same function as this supernet after ``set_active(genome)``.
        """
        self.set_active(genome)
        fixed = tuple(copy.deepcopy(part) for part in (self.stem, self.first, self.tail))
        net = static_subnet(self.space, genome, fixed)
        for static, b in zip(net.blocks, net.block_ids):
            _copy_block(static, self.blocks[b])
        return net.to(next(self.parameters()).device).train(self.training)


def active_block_ids(space: SearchSpace, genome: np.ndarray) -> list[int]:
    """Supernet block indices the sub-net of ``genome`` (n_genes,) keeps (a stage keeps its first d)."""
    return np.flatnonzero(space.active_blocks(np.asarray(genome, dtype=np.int64)[None, :])[0]).tolist()


def static_subnet(space: SearchSpace, genome: np.ndarray,
                  fixed: tuple[nn.Module, nn.Module, nn.Module] | None = None) -> SubNet:
    """The fp32 static :class:`SubNet` of ``genome`` (n_genes,): the one builder of sub-nets.

    Its blocks are new (fresh weights, CPU); ``fixed`` gives the (stem, first block, tail) to use,
    new ones by default. :meth:`Supernet.extract` passes copies of its own and copies the active
    block weights in; :func:`apq.quant.spec.build_model` loads an exported state dict into it.
    """
    cfg = space.config
    row = np.asarray(genome, dtype=np.int64)[None, :]
    kernels, mids = space.values(row, "kernel")[0], space.values(row, "mid")[0]
    block_ids = active_block_ids(space, genome)
    blocks = [StaticBlock(space.blocks[b], int(kernels[b]), int(mids[b])) for b in block_ids]
    stem, first, tail = fixed or (conv_bn(cfg.input_channels, cfg.stem_width, 3, cfg.stem_stride),
                                  FirstBlock(cfg.stem_width, cfg.first_block_width),
                                  Tail(cfg.stages[-1].width, cfg.final_width, cfg.num_classes))
    return SubNet(stem, first, blocks, tail, block_ids)


def _copy_block(static: StaticBlock, block: DynamicBlock) -> None:
    """Copy the active part of ``block`` (its kernel and middle channels) into ``static``."""
    mid, kernel = static.mid, static.kernel
    static.expand[0].weight.copy_(block.expand.weight[:mid])
    static.depthwise[0].weight.copy_(block.depthwise.kernel_weight(kernel, mid))
    static.project[0].weight.copy_(block.project.weight[:, :mid])
    for seq, dyn in ((static.expand, block.expand_bn), (static.depthwise, block.depthwise_bn),
                     (static.project, block.project_bn)):
        _copy_bn(seq[1], dyn.bn)


def _copy_bn(dst: nn.BatchNorm2d, src: nn.BatchNorm2d) -> None:
    c = dst.num_features
    for name in ("weight", "bias", "running_mean", "running_var"):
        getattr(dst, name).copy_(getattr(src, name)[:c])
    dst.num_batches_tracked.copy_(src.num_batches_tracked)
    dst.eps, dst.momentum = src.eps, src.momentum
