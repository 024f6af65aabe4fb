"""Reference data of the APQ release committed with the tests (``tests/data/reference``)."""
import json

from tests.helpers.cli import PROJECT

#: Conformance vectors from the APQ release (source and licence in its README).
REFERENCE = PROJECT / "tests" / "data" / "reference"


def reference_json(name: str):
    """A JSON file of :data:`REFERENCE`."""
    return json.loads((REFERENCE / name).read_text())
