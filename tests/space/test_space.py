"""Space geometry, gene layout, specs and genome strings."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from apq.errors import UserError
from apq.space.config import SpaceConfig, StageConfig
from apq.space.genome import sample
from apq.space.registry import create_space, space_names
from apq.space.space import SearchSpace
from apq.space.spec import decode, encode_spec, genome_string


def test_apq_space_matches_published_geometry(apq_space):
    assert apq_space.n_blocks == 21
    assert [b.cin for b in apq_space.blocks[:5]] == [16, 24, 24, 24, 24]
    assert [len(m) for m in apq_space.mid_choices][:2] == [5, 7]  # 64..96, 96..144 step 8
    assert apq_space.mid_choices[0].tolist() == [64, 72, 80, 88, 96]
    assert apq_space.final_size == 7
    assert apq_space.blocks[0].in_size == 112


def test_fmnist_sizes_stay_exact():
    space = create_space("fmnist")
    assert [b.in_size for b in space.blocks] == [28, 14, 14, 14, 7, 7, 7, 7, 7, 7]
    assert space.head_layers().cin[0] == 1


def test_gene_slices_partition_the_genome(space):
    covered = np.zeros(space.n_genes, int)
    for sl in space.slices.values():
        covered[sl] += 1
    assert np.all(covered == 1)


def test_active_blocks_follow_depth():
    space = create_space("fmnist")
    genome = np.zeros((1, space.n_genes), np.int64)  # smallest depths: 1,1,1,1
    assert space.active_blocks(genome)[0].tolist() == [True, False, False, True, False, False,
                                                        True, False, False, True]


@settings(max_examples=40, deadline=None)
@given(name=st.sampled_from(space_names()), seed=st.integers(0, 2**31))
def test_spec_round_trip(name, seed):
    space = create_space(name)
    genome = sample(space, 1, np.random.default_rng(seed))[0]
    spec = decode(space, genome)
    assert np.array_equal(encode_spec(space, spec), genome)
    assert len(genome_string(space, genome).split("|")) == space.n_stages


def test_spec_refuses_unknown_value_and_wrong_space(apq_space):
    spec = decode(apq_space, np.zeros(apq_space.n_genes, np.int64))
    spec["ks"][0] = 9
    with pytest.raises(UserError, match="ks"):
        encode_spec(apq_space, spec)
    with pytest.raises(UserError, match="space"):
        encode_spec(create_space("fmnist"), decode(apq_space, np.zeros(apq_space.n_genes, np.int64)))


def test_genome_string_hand_example():
    space = create_space("fmnist")
    genome = np.zeros(space.n_genes, np.int64)
    assert genome_string(space, genome).startswith("k3m32p22d22 | k3m48p22d22")


def test_user_space_from_json(tmp_path):
    config = SpaceConfig(name="tiny32", input_size=32, input_channels=3, num_classes=10, stem_width=8,
                         stem_stride=1, first_block_width=8, final_width=64,
                         stages=(StageConfig(16, 2, (1, 2)),), expand_min=2, expand_max=3)
    path = tmp_path / "tiny.json"
    import json
    path.write_text(json.dumps(config.to_dict()))
    space = create_space(str(path))
    assert isinstance(space, SearchSpace) and space.n_blocks == 2
    assert space.mid_choices[0].tolist() == [16, 24]


def test_bad_user_space_is_user_error(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{"name": "x"}')
    with pytest.raises(UserError):
        create_space(str(path))
