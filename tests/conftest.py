"""Shared fixtures: the reference data folder and the registered spaces."""
import json
from pathlib import Path

import pytest

from apq.space.registry import create_space, space_names

PROJECT = Path(__file__).resolve().parents[1]
REFERENCE = PROJECT.parent / "shared" / "reference"


def reference_json(name: str):
    path = REFERENCE / name
    if not path.exists():
        pytest.skip(f"reference data {path} not present (../shared/reference beside the project)")
    return json.loads(path.read_text())


@pytest.fixture(params=space_names())
def space(request):
    return create_space(request.param)


@pytest.fixture
def apq_space():
    return create_space("imagenet-apq")


@pytest.fixture(autouse=True)
def _isolated_root(tmp_path, monkeypatch):
    """Artifacts written by a test land in its tmp folder, never in the checkout."""
    monkeypatch.setenv("APQ_ROOT", str(tmp_path))
