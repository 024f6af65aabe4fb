"""Networks and genomes for the supernet, quantization and export tests."""
import numpy as np
import torch

from apq.space.genome import sample


def randomize(net: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Give BN statistics/affines and kernel transforms non-trivial values (a fresh net has identity ones)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in list(net.named_parameters()) + list(net.named_buffers()):
            if name.endswith("running_var"):
                tensor.copy_(torch.rand(tensor.shape, generator=gen) + 0.5)
            elif name.endswith(("running_mean", "bias")) or ".bn.weight" in name or "transforms" in name:
                tensor.add_(0.1 * torch.randn(tensor.shape, generator=gen))
    return net


def genomes(space, net, n=4, seed=0):
    """Smallest, largest and ``n`` random genomes."""
    return [net.smallest_genome(), net.largest_genome(), *sample(space, n, np.random.default_rng(seed))]


def genome_with_bits(space, seed, **bits):
    """A random genome whose bit genes are set to the given values (e.g. pw_w=4) for every block."""
    genome = np.random.default_rng(seed).integers(0, space.cardinality)
    for gene, value in bits.items():
        genome[space.slices[gene]] = int(np.flatnonzero(space.bit_choices == value)[0])
    return genome
