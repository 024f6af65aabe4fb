"""Bit policy of a genome and the per-layer plan: bits from the right genes, signedness rules."""
import numpy as np

from apq.quant.policy import bit_policy, layer_plan
from apq.space.space import BIT_GENES


def test_policy_lists_active_blocks_with_their_gene_values(fmnist):
    genome = np.random.default_rng(3).integers(0, fmnist.cardinality)
    policy = bit_policy(fmnist, genome)
    active = np.flatnonzero(fmnist.active_blocks(genome[None])[0])
    assert [entry["block"] for entry in policy["blocks"]] == active.tolist()
    assert policy["fixed_bits"] == fmnist.config.fixed_bits == 8
    for entry in policy["blocks"]:
        for gene in BIT_GENES:
            assert entry[gene] == fmnist.values(genome[None], gene)[0, entry["block"]]


def test_plan_uses_pw_bits_for_both_pointwise_convs_and_dw_bits_for_the_depthwise():
    policy = {"fixed_bits": 8, "blocks": [{"block": 4, "pw_w": 4, "pw_a": 6, "dw_w": 8, "dw_a": 4}]}
    plan = {layer.name: layer for layer in layer_plan([4], policy)}
    assert (plan["blocks.0.expand.0"].weight_bits, plan["blocks.0.expand.0"].act_bits) == (4, 6)
    assert (plan["blocks.0.project.0"].weight_bits, plan["blocks.0.project.0"].act_bits) == (4, 6)
    assert (plan["blocks.0.depthwise.0"].weight_bits, plan["blocks.0.depthwise.0"].act_bits) == (8, 4)
    fixed = ("stem.0", "first.depthwise.0", "first.project.0", "tail.final.0", "tail.classifier")
    assert all(plan[name].weight_bits == plan[name].act_bits == 8 for name in fixed)
    assert len(plan) == len(fixed) + 3


def test_signed_exactly_where_the_input_is_not_a_relu6_output():
    policy = {"fixed_bits": 8, "blocks": [{"block": b, "pw_w": 8, "pw_a": 8, "dw_w": 8, "dw_a": 8} for b in (0, 1)]}
    signed = {layer.name for layer in layer_plan([0, 1], policy) if layer.signed}
    # the image, each block's input (linear projection + residual) and the last block's output
    assert signed == {"stem.0", "blocks.0.expand.0", "blocks.1.expand.0", "tail.final.0"}
