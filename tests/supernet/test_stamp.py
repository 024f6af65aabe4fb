"""The supernet's freshness stamp: what shapes its weights, nothing else."""
from dataclasses import replace

from apq.presets import get_preset
from apq.space.registry import create_space
from apq.supernet import checkpoint as ckpt
from apq.supernet.config import get_supernet_config


def test_a_progressive_stamp_ignores_the_sandwich_fields_and_a_file_from_before_them_stays_fresh():
    space, config, preset = create_space("fmnist"), get_supernet_config("default"), get_preset("default")
    meta = ckpt.make_meta(space, config, preset)
    before = {**meta, "supernet_config": {k: v for k, v in meta["supernet_config"].items()
                                          if k not in ckpt.SANDWICH_ONLY}}
    assert ckpt.stamp_of(before).fingerprint == ckpt.make_stamp(space, config, preset).fingerprint
    other = replace(config, epochs_sandwich=config.epochs_sandwich + 1)
    assert ckpt.make_stamp(space, other, preset).fingerprint == ckpt.make_stamp(space, config, preset).fingerprint


def test_a_sandwich_stamp_differs_from_a_progressive_one_and_follows_its_epochs():
    space, config, preset = create_space("fmnist"), get_supernet_config("default"), get_preset("default")
    sandwich = replace(config, recipe="sandwich")
    assert ckpt.make_stamp(space, sandwich, preset).fingerprint != ckpt.make_stamp(space, config, preset).fingerprint
    longer = replace(sandwich, epochs_sandwich=sandwich.epochs_sandwich + 1)
    assert ckpt.make_stamp(space, longer, preset).fingerprint != ckpt.make_stamp(space, sandwich, preset).fingerprint


def test_the_architecture_part_of_a_space_leaves_out_its_bit_menu():
    full, apq_menu = (create_space(name).config.to_dict() for name in ("fmnist", "fmnist-apq"))
    assert full["bits"] != apq_menu["bits"]
    assert {**ckpt.architecture(full), "name": None} == {**ckpt.architecture(apq_menu), "name": None}
