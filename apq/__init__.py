"""APQ engine: joint search of architecture, channel pruning and mixed-precision quantization.

    import apq

    run = apq.search(space="fmnist", target="fpga", preset="smoke", baselines=True)
    print(run.best["predicted_acc"], run.verify["measured_acc"])

The pipeline's functions live in :mod:`apq.api`. Each stage's function is also reachable under its
package's own name: ``apq.search(...)`` calls :func:`apq.api.search`, while ``apq.search.run`` stays
that package's module (the stage packages and :mod:`apq.config` are callable modules). Nothing
heavy is imported until a function runs, so ``import apq`` and ``apq --help`` stay fast.
"""
import importlib
import inspect
import sys
import types

__version__ = "0.1.0"

#: Packages (and modules) whose name is also an :mod:`apq.api` function.
CALLABLE_MODULES = ("supernet", "samples", "predictor", "search", "verify", "finetune", "export", "config")
#: Other names of :mod:`apq.api` offered on ``apq``.
API_NAMES = ("Run", "load_run")


class _CallableModule(types.ModuleType):
    """A module that, called, runs the :mod:`apq.api` function of its own name."""

    def _function(self):
        return getattr(importlib.import_module("apq.api"), self.__name__.rpartition(".")[2])

    def __call__(self, *args, **kwargs):
        return self._function()(*args, **kwargs)

    @property
    def __signature__(self) -> inspect.Signature:  # what help() and IDEs show for the call
        return inspect.signature(self._function())


def make_callable(module_name: str) -> None:
    """Let ``apq.<name>(...)`` call :func:`apq.api.<name>` while ``apq.<name>`` stays the module."""
    sys.modules[module_name].__class__ = _CallableModule


for _name in CALLABLE_MODULES[:-1]:  # the stage packages' __init__ modules import nothing
    make_callable(importlib.import_module(f"apq.{_name}").__name__)


def __getattr__(name: str):
    """:mod:`apq.api`'s ``Run`` and ``load_run``, and ``apq.config``, imported on first use (PEP 562)."""
    if name in API_NAMES:
        return getattr(importlib.import_module("apq.api"), name)
    if name == "config":
        return importlib.import_module("apq.config")
    raise AttributeError(f"module 'apq' has no attribute '{name}'")
