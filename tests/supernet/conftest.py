"""Small supernet fixtures shared by the supernet tests."""
import pytest

from tests.helpers.cli import apq


@pytest.fixture(scope="session")
def smoke_root(tmp_path_factory):
    """APQ_ROOT of one uninterrupted ``apq supernet --preset smoke`` (tests only read it)."""
    root = tmp_path_factory.mktemp("smoke_supernet")
    result = apq("supernet", "--preset", "smoke", root=root)
    assert result.returncode == 0, result.stderr
    return root
