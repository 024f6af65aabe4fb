"""Supernet files carrying pickled Python objects are refused, never unpickled, and leave nothing behind."""

import pytest
import torch

from apq.errors import UserError
from apq.supernet import checkpoint as ckpt
from tests.helpers.cli import apq, assert_user_error
from tests.helpers.pickles import Exploit


class Custom:
    """A plain custom class: loading it would import and run code of the file's choosing."""
def _plant(path, payload_kind, marker):
    fmt = ckpt.CHECKPOINT_FORMAT if path.name.endswith("ckpt.pt") else ckpt.FORMAT
    payload = Exploit(marker) if payload_kind == "reduce" else Custom()
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"format": fmt, "meta": {"space": "fmnist"}, "extra": payload}, path)


@pytest.mark.parametrize("name,payload_kind", [("supernet.ckpt.pt", "reduce"), ("supernet.pt", "class")])
def test_cli_refuses_a_pickle_payload_and_leaves_no_artifact(tmp_path, name, payload_kind):
    folder, marker = tmp_path / "data" / "fmnist", tmp_path / "unpickled"
    _plant(folder / name, payload_kind, marker)
    culprit = "os.makedirs" if payload_kind == "reduce" else "Custom"
    assert_user_error(apq("supernet", "--preset", "smoke", root=tmp_path), name, "pickled", culprit)
    assert not marker.exists()
    assert sorted(p.name for p in folder.iterdir()) == [name]  # no supernet.json, no checkpoint, no temp file


def test_load_supernet_refuses_a_pickle_payload(tmp_path, fmnist):
    path, marker = tmp_path / "supernet.pt", tmp_path / "unpickled"
    _plant(path, "reduce", marker)
    with pytest.raises(UserError, match="pickled"):
        ckpt.load_supernet(fmnist, path)
    assert not marker.exists()


@pytest.mark.parametrize("damage", ["truncated", "text"])
def test_load_supernet_refuses_a_damaged_file(tmp_path, fmnist, damage):
    path = tmp_path / "supernet.pt"
    ckpt.write(path, {"format": ckpt.FORMAT, "meta": {"space": "fmnist"}, "state_dict": {"w": torch.ones(1000)}})
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2] if damage == "truncated" else b"garbage\n")
    with pytest.raises(UserError, match="cannot read"):
        ckpt.load_supernet(fmnist, path)
