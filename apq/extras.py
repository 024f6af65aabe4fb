"""Optional extras: check that the packages a command needs are importable before it does any work.

The extras are those of ``pyproject.toml`` (``pip install 'apq-engine[<extra>]'``): ``export``
(onnx, onnxruntime), ``notebooks`` (matplotlib, nbclient), ``cluster`` (dask.distributed),
``ray`` and ``images`` (Pillow).
"""
from __future__ import annotations

import sys
from types import ModuleType

from apq.errors import UserError

DISTRIBUTION = "apq-engine"


def require_extra(modules: tuple[str, ...], extra: str, what: str) -> list[ModuleType]:
    """Import ``modules`` (dotted names) and return them, in order.

    If one cannot be imported, raise a :class:`UserError` naming ``what`` needs it (e.g.
    ``"apq export --format onnx"``) and the pip command that installs ``extra``. Imports go through
    ``__import__``, so a module blocked in ``sys.modules`` (``None``) or by an import hook counts as
    missing, as it would for the command itself.
    """
    found = []
    for name in modules:
        try:
            __import__(name)
        except ImportError:
            raise UserError(f"{what} needs the '{extra}' extra ({name} cannot be imported); "
                            f"pip install '{DISTRIBUTION}[{extra}]'") from None
        found.append(sys.modules[name])
    return found
