"""The pipeline as one ordered table of stages, and the command line of each.

Each :class:`Stage` names its config section (what its stamp fingerprints, see
:mod:`apq.stages.fresh`), the stages whose artifacts it reads, what it writes (paths of
:mod:`apq.stages.layout`) and the ``apq`` command that runs it. ``apq run``, the Makefile (through
``apq run``), ``bench/pipeline.py`` and the tests all walk this table.

``search`` is always followed by ``verify``: a search run's winner is only reported once it is
measured on the test split, as ``make search`` always did. ``search`` itself is never up to date:
every call is a new run (``results/<space>/<target>/<run>/``), and ``verify``/``export`` act on
that run. ``finetune`` (the verified winner trained further, ~10 minutes) is a stage of its own
after verify: ``apq export`` exports its model when there is one, so it is not an upstream of export.
"""
from __future__ import annotations

import shlex
from dataclasses import dataclass, field

#: Run options a stage's command line can take (see :func:`command_line`).
SPACE, PRESET, TARGET, DATA_DIR, CONSTRAINT, CONFIG, RUN = ("space", "preset", "target", "data_dir", "constraint",
                                                            "config", "run")


@dataclass(frozen=True)
class Stage:
    """One pipeline stage. ``command``: its apq command line before the run options; ``takes``:
    which run options it accepts; ``then``: stages that always run after it."""

    name: str
    command: tuple[str, ...]
    section: str | None
    upstream: tuple[str, ...]
    outputs: tuple[str, ...]
    takes: frozenset[str]
    then: tuple[str, ...] = ()


_SETTINGS = frozenset({SPACE, PRESET, CONFIG})
STAGES = (
    Stage("data", ("data",), None, (), ("the dataset folder (checked, downloaded if missing)",), frozenset({DATA_DIR})),
    Stage("supernet", ("supernet",), "supernet", ("data",), ("data/<space>/supernet.pt", "supernet.json"),
          _SETTINGS | {DATA_DIR}),
    Stage("samples_fp32", ("samples",), "samples", ("supernet",), ("data/<space>/samples_fp32.h5",),
          _SETTINGS | {DATA_DIR}),
    Stage("samples_quant", ("samples", "--quant"), "samples", ("supernet",), ("data/<space>/samples_quant.h5",),
          _SETTINGS | {DATA_DIR}),
    # the supernet too: its sensitivity scan is the quantization-aware models' prior (predictor.sensitivity_images)
    Stage("predictor", ("predictor",), "predictor", ("samples_fp32", "samples_quant", "supernet"),
          ("predictors/<space>/fp32.pt", "quant.pt", "metrics.json"), _SETTINGS | {DATA_DIR}),
    # the supernet too: the search measures its shortlists on the validation split (search.rerank_k)
    Stage("search", ("search",), "search", ("predictor", "supernet"), ("results/<space>/<target>/<run>/",),
          _SETTINGS | {TARGET, CONSTRAINT, RUN, DATA_DIR}, then=("verify",)),
    Stage("verify", ("verify",), "verify", ("search", "supernet"), ("<run>/verify.json", "winner.pt"),
          _SETTINGS | {TARGET, DATA_DIR, RUN}),
    Stage("finetune", ("finetune",), "finetune", ("verify", "supernet"), ("<run>/finetuned.pt", "finetune.json"),
          _SETTINGS | {TARGET, DATA_DIR, RUN}),
    Stage("export", ("export",), "export", ("verify",), ("<run>/export/",),
          frozenset({SPACE, TARGET, DATA_DIR, RUN})),
)
BY_NAME = {stage.name: stage for stage in STAGES}
#: Names ``apq run`` also takes for several stages at once.
GROUPS = {"samples": ("samples_fp32", "samples_quant")}
#: Every name ``apq run`` takes, in pipeline order.
RUNNABLE = ("data", "supernet", "samples", "samples_fp32", "samples_quant", "predictor", "search", "verify", "finetune",
            "export")


def plan(name: str) -> list[Stage]:
    """Every stage ``name`` needs (its upstream, transitively), itself and its ``then`` stages, in
    table order; ``name`` may be a group (:data:`GROUPS`)."""
    if name in GROUPS:
        parts = {stage.name for part in GROUPS[name] for stage in plan(part)}
        return [stage for stage in STAGES if stage.name in parts]
    wanted: set[str] = set()

    def need(stage: str) -> None:
        if stage not in wanted:
            wanted.add(stage)
            for up in BY_NAME[stage].upstream:
                need(up)

    need(name)
    for follow in BY_NAME[name].then:
        need(follow)
    return [stage for stage in STAGES if stage.name in wanted]


@dataclass(frozen=True)
class RunOptions:
    """The options of ``apq run``, shared by the stages' command lines.

    ``sets`` and ``config`` are passed on verbatim as ``--set KEY=VALUE`` and ``--config FILE``;
    ``run`` names the search run (``search --run NAME``), which verify and export then act on;
    ``extra`` maps a command (e.g. ``"search"``) to more flags for it (e.g. ``["--baselines"]``).
    """

    space: str = "fmnist"
    preset: str = "default"
    target: str | None = None
    data_dir: str | None = None
    latency: str | None = None
    energy: str | None = None
    sets: tuple[str, ...] = ()
    config: str | None = None
    run: str | None = None
    extra: dict = field(default_factory=dict)


def command_line(stage: Stage, options: RunOptions) -> list[str]:
    """The ``apq`` arguments that run ``stage`` with ``options`` (each option only where the stage takes it)."""
    words = list(stage.command)
    takes = stage.takes
    if RUN in takes and options.run:
        words += ["--run", options.run] if stage.name == "search" else [options.run]
    if SPACE in takes:
        words += ["--space", options.space]
    if TARGET in takes and options.target:
        words += ["--target", options.target]
    if PRESET in takes:
        words += ["--preset", options.preset]
    if CONSTRAINT in takes:
        words += [w for flag, value in (("--latency", options.latency), ("--energy", options.energy))
                  if value is not None for w in (flag, value)]
    if DATA_DIR in takes and options.data_dir:
        words += ["--data-dir", options.data_dir]
    if CONFIG in takes:
        words += [w for item in options.sets for w in ("--set", item)]
        words += ["--config", options.config] if options.config else []
    return words + list(options.extra.get(stage.command[0], ()))


def show(words: list[str]) -> str:
    """A command line as a user would type it."""
    return "apq " + shlex.join(words)
