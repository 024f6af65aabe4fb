"""The layer order of ``apq/`` (docs/architecture.md): a package imports only packages below it.

Every module under ``apq/`` is parsed with ``ast``; all its imports count, at module level and
inside functions (a function-local import hides a cycle, it does not remove it). Each ``apq``
module maps to its package (``apq.search.run`` -> ``search``, ``apq.io`` -> ``io``), each package
to a layer, and an import is allowed only from a higher layer to a lower one. The three stages
that consume a search run (search, verify, export) hand over through the run folder's files, not
through imports, so they may not import each other either. A package missing from ``LAYERS``
fails the test: place it before it lands. Test modules share code through ``tests/helpers``.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

APQ = Path(__file__).resolve().parents[1] / "apq"

#: Bottom to top. Packages of one layer may not import each other.
LAYERS: list[set[str]] = [
    {"", "errors"},  # "" is apq/__init__.py (__version__; apq.search(...) etc. reach apq.api only when called)
    {"io", "settings", "extras"},
    {"presets", "stages"},  # stages: freshness, locks, paths and staged writes every stage uses
    {"data", "space"},
    {"hardware"},
    {"nn"},
    {"supernet"},
    {"quant"},
    {"samples"},
    {"predictor"},
    {"search"},
    {"verify"},
    {"finetune"},  # reads verify's winner.pt (through apq.quant.winner); export exports its finetuned.pt
    {"export"},
    {"config"},  # the run config: one section per stage, from each stage's own config module
    {"pipeline"},
    {"api"},  # the pipeline as Python functions over the stages and the run config; the commands wrap it
    {"commands", "report"},
    {"cli"},
    {"__main__"},
]
LAYER = {package: rank for rank, packages in enumerate(LAYERS) for package in packages}

#: Stages that read another's artifacts from disk and never import it.
RUN_STAGES = {"search", "verify", "export"}

#: Edges tolerated for now, each with the reason (none: apq run and apq chain parse their steps
#: with apq/commands/parser.py, not the CLI).
KNOWN_EXCEPTIONS: set[tuple[str, str]] = set()


def module_name(path: Path) -> str:
    parts = list(path.relative_to(APQ.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_of(module: str) -> str:
    """``apq.search.run`` -> ``search``; ``apq.io`` -> ``io``; ``apq`` -> ``""``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def imported_modules(source: str, module: str, is_package: bool) -> list[tuple[str, int]]:
    """(imported ``apq`` module, line) of every import in ``source``, at any depth."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            name = node.module or ""
            if node.level:
                base = module.split(".")[: len(module.split(".")) - node.level + (1 if is_package else 0)]
                name = ".".join(base + ([name] if name else []))
            found.append((name, node.lineno))
    return [(name, line) for name, line in found if name == "apq" or name.startswith("apq.")]


def violations(sources: dict[str, tuple[str, bool]]) -> list[str]:
    """Layer violations and package cycles among ``sources`` ({module: (source, is_package)})."""
    problems, edges = [], set()
    for module, (source, is_package) in sorted(sources.items()):
        src = package_of(module)
        for target, line in imported_modules(source, module, is_package):
            dst = package_of(target)
            if dst == src or (module, target) in KNOWN_EXCEPTIONS:
                continue
            for package in (src, dst):
                if package not in LAYER:
                    problems.append(f"{module}:{line}: package '{package}' has no layer; add it to LAYERS")
            if src not in LAYER or dst not in LAYER:
                continue
            edges.add((src, dst))
            if LAYER[dst] >= LAYER[src]:
                problems.append(f"{module}:{line} imports {target}: layer of '{dst}' is not below '{src}'")
            elif src in RUN_STAGES and dst in RUN_STAGES:
                problems.append(f"{module}:{line} imports {target}: run stages hand over through files")
    return problems + [f"import cycle between packages: {' -> '.join(c)}" for c in package_cycles(edges)]


def package_cycles(edges: set[tuple[str, str]]) -> list[list[str]]:
    """One cycle per strongly connected group of packages with more than one member."""
    graph: dict[str, set[str]] = {}
    for a, b in edges:
        graph.setdefault(a, set()).add(b)
    cycles, seen = [], set()
    for start in sorted(graph):
        path, stack = [start], [iter(sorted(graph[start]))]
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                stack.pop()
                path.pop()
            elif nxt == start:
                cycle = path + [start]
                if frozenset(cycle) not in seen:
                    seen.add(frozenset(cycle))
                    cycles.append(cycle)
            elif nxt not in path and nxt in graph:
                path.append(nxt)
                stack.append(iter(sorted(graph[nxt])))
    return cycles


def apq_sources() -> dict[str, tuple[str, bool]]:
    return {module_name(p): (p.read_text(), p.name == "__init__.py") for p in sorted(APQ.rglob("*.py"))}


def test_every_import_goes_down_the_layers():
    assert violations(apq_sources()) == []


def test_every_package_has_a_layer():
    packages = {package_of(module) for module in apq_sources()}
    assert packages - set(LAYER) == set()


@pytest.mark.parametrize("module, line, needle", [
    ("apq.verify.run", "def f():\n    from apq.search.run import torch_threads\n", "hand over through files"),
    ("apq.verify.run", "from apq.export.winner import read_winner\n", "not below 'verify'"),
    ("apq.space.space", "from apq.hardware.layers import ConvLayers\n", "not below 'space'"),
    ("apq.quant.qat", "from apq.samples.data import SampleData\n", "not below 'quant'"),
    ("apq.data.tensors", "def f():\n    from apq.supernet import build\n", "not below 'data'"),
    ("apq.space.genome", "from ..hardware import target\n", "not below 'space'"),
    ("apq.nosuch.mod", "from apq.io import write_json\n", "has no layer"),
])
def test_an_upward_or_sideways_import_is_reported(module, line, needle):
    sources = {**apq_sources(), module: (line, False)}
    problems = violations(sources)
    assert any(needle in p and p.startswith(module) for p in problems), problems


def test_a_cycle_is_reported():
    sources = {"apq.nn.a": ("from apq.supernet import b\n", False), "apq.supernet.b": ("import apq.nn.a\n", False)}
    assert "import cycle between packages: nn -> supernet -> nn" in violations(sources)


def test_tests_share_helpers_not_each_other():
    """Test modules and conftests import shared code from ``tests.helpers`` only, never each other."""
    tests = APQ.parent / "tests"
    offenders = []
    for path in sorted(tests.rglob("*.py")):
        if "helpers" in path.relative_to(tests).parts:
            continue
        for name, line in imported_tests(path.read_text()):
            if not name.startswith("tests.helpers"):
                offenders.append(f"{path.relative_to(tests.parent)}:{line} imports {name}")
    assert offenders == []


def imported_tests(source: str) -> list[tuple[str, int]]:
    """(imported ``tests`` module, line) of every import in ``source``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level:
            found.append((node.module or "", node.lineno))
    return [(name, line) for name, line in found if name == "tests" or name.startswith("tests.")]
