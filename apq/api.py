"""The pipeline as Python functions with typed results; ``apq``'s commands are thin wrappers over them.

    import apq

    run = apq.search(space="fmnist", target="fpga", latency=1.5, baselines=True, preset="smoke")
    run.best["predicted_acc"], run.verify["measured_acc"], len(run.front)
    columns = run.candidates()                  # every evaluated genome, numpy columns
    again = apq.load_run(run.path)

Every function takes the settings of the command line as keyword arguments: ``preset`` (a preset
name, or a :class:`~apq.config.RunConfig` such as :func:`config` returns), ``config_file`` (a TOML or
JSON file) and ``settings`` (``"section.field=value"`` strings, or a mapping ``{"search.population":
200}``), applied in that order. A bad setting or input raises :class:`apq.errors.UserError` with a
one-line message; every stage is a no-op when its artifact is up to date. The stage modules are
imported inside the functions, so ``import apq`` stays light.
"""
from __future__ import annotations

import csv
import json
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from apq.config import RunConfig, apply_settings, preset_config
from apq.errors import UserError

log = logging.getLogger(__name__)

Settings = Sequence[str] | Mapping[str, object]

#: pareto.csv and logbook.csv columns that stay text.
_TEXT_COLUMNS = {"method", "arch"}


# ----- settings ----------------------------------------------------------------------------
def config(preset: str | RunConfig = "default", settings: Settings = (), config_file: str | Path | None = None) -> RunConfig:
    """The resolved settings: ``preset``, then ``config_file``, then ``settings`` (later wins)."""
    base = preset if isinstance(preset, RunConfig) else preset_config(preset)
    if isinstance(settings, str):
        settings = (settings,)
    if isinstance(settings, Mapping):
        return apply_settings(base, (), config_file).override(settings, "settings")
    return apply_settings(base, settings, config_file)


# ----- stages ------------------------------------------------------------------------------
def supernet(space: str = "fmnist", *, preset: str | RunConfig = "default", settings: Settings = (),
             config_file: str | Path | None = None, data_dir: str | Path | None = None, force: bool = False,
             world=None) -> Path:
    """Train (or resume, or keep when up to date) the supernet of ``space``; returns ``data/<space>/supernet.pt``.

    ``world`` (:class:`apq.supernet.distributed.World`, default: from the environment) makes it
    data-parallel under ``torchrun``.
    """
    from apq.space.registry import create_space
    from apq.supernet.build import train_supernet
    from apq.supernet.distributed import World, process_group

    run_config = config(preset, settings, config_file)
    world = world or World.from_env()
    net_space = create_space(space)
    with process_group(world):
        return train_supernet(net_space, run_config.preset, run_config.supernet, data_dir, force=force, world=world)


def samples(space: str = "fmnist", *, quant: bool = False, n: int | None = None, jobs: int | None = None,
            backend: str = "loky", address: str | None = None, data_dir: str | Path | None = None,
            preset: str | RunConfig = "default", settings: Settings = (),
            config_file: str | Path | None = None, force: bool = False, retest: int | None = None) -> Path:
    """Accuracy samples of random sub-nets (fp32, or quantized with ``quant``); returns the .h5 file.

    ``n`` samples (default: the preset's) on ``jobs`` workers (default: one per usable core) of
    ``backend`` (loky here; dask or ray at ``address``). Then the first ``retest`` of them
    (default ``samples.n_retest``; 0: none) measured again with other random draws into
    ``samples_<kind>_retest.h5``, from which ``apq predictor`` reports the labels' realization
    noise. Resumes an interrupted file; ``force`` replaces one made with other settings.
    """
    from apq.nn.runtime import usable_cpus
    from apq.samples.config import MIN_RETEST
    from apq.samples.generate import RunOptions, generate_samples
    from apq.samples.parallel import require_backend
    from apq.space.registry import create_space

    for name, value in (("jobs", jobs), ("n", n)):
        if value is not None and value < 1:
            raise UserError(f"--{name} must be at least 1")
    if retest is not None and (retest < 0 or 0 < retest < MIN_RETEST):
        raise UserError(f"--retest must be 0 (none) or at least {MIN_RETEST}")
    run_config = config(preset, settings, config_file)
    require_backend(backend)
    sample_space = create_space(space)
    kind = "quant" if quant else "fp32"
    options = RunOptions(jobs or usable_cpus(), backend, address, data_dir)
    n = n or run_config.samples.count(kind)
    path = generate_samples(sample_space, space, kind, n, run_config.preset, run_config.samples, run_config.quant,
                            options, force=force)
    retest_config = run_config.samples if retest is None else replace(run_config.samples, n_retest=retest)
    if count := retest_config.retest_count(n):
        generate_samples(sample_space, space, kind, count, run_config.preset, run_config.samples, run_config.quant,
                         options, force=force, replicate=1)
    return path


def predictor(space: str = "fmnist", *, preset: str | RunConfig = "default", settings: Settings = (),
              config_file: str | Path | None = None, force: bool = False,
              import_apq: str | Path | None = None, data_dir: str | Path | None = None) -> dict:
    """Fit and test the fp32 and quantization-aware predictors (no-op when up to date); returns
    ``predictors/<space>/metrics.json`` as a dict. ``data_dir``: the dataset, for the supernet's
    sensitivity scan (``predictor.sensitivity_images``).

    With ``import_apq`` (APQ's released ``acc_quant.pt``), imports it as ``predictors/<space>/quant.pt``
    instead and returns ``{"imported": source, "path": quant.pt}``.
    """
    from apq.predictor.apq_import import import_apq_predictor
    from apq.predictor.build import build_predictors
    from apq.predictor.load import predictor_dir
    from apq.space.registry import create_space

    run_config = config(preset, settings, config_file)
    predictor_space = create_space(space)
    if import_apq:
        return {"imported": str(import_apq), "path": str(import_apq_predictor(import_apq, predictor_space))}
    metrics = build_predictors(predictor_space, run_config.preset, run_config.predictor, force=force,
                               quant=run_config.quant, data_dir=data_dir)
    folder = predictor_dir(predictor_space.name)
    if metrics is None:
        log.info("%s is up to date (same sample files and settings); nothing to do (--force rebuilds)", folder)
        return json.loads((folder / "metrics.json").read_text())
    log.info("wrote %s in %.1f s", folder, metrics["seconds"])
    return metrics


def search(space: str = "fmnist", target: str = "fpga", *, latency: float | None = None,
           energy: float | None = None, baselines: bool = False, seed: int | None = None,
           run_name: str | None = None, predictor_path: str | Path | None = None,
           preset: str | RunConfig = "default", settings: Settings = (), config_file: str | Path | None = None,
           upstream: bool = True, verify: bool = True, data_dir: str | Path | None = None,
           jobs: int | None = None, backend: str = "loky", address: str | None = None) -> "Run":
    """Joint search of architecture, channels and bits under ``latency`` (ms) or ``energy`` (mJ); returns the run.

    ``upstream``: first bring data, supernet, fp32 and quantized samples and the predictors up to
    date (each a no-op when fresh, as ``make search`` does; samples and predictors are skipped
    when ``predictor_path`` is given). ``verify``: then fine-tune and test the winners
    (:func:`verify`). Without a limit the winner is picked under the median latency of random
    valid genomes. ``seed`` defaults to the preset's, ``run_name`` to ``YYYYmmdd-HHMMSS-s<seed>``.
    ``jobs`` (default: one per usable core), ``backend`` and ``address``: where the re-ranking's
    validation measurements run (``search.rerank_k`` > 1), as for :func:`samples`.
    """
    run_config = config(preset, settings, config_file)
    if upstream:
        _bring_upstream(space, run_config, data_dir, with_predictor=predictor_path is None)
    rerank = {"jobs": jobs, "backend": backend, "address": address, "data_dir": data_dir}
    run_dir = _search(space, target, run_config, latency, energy, baselines, seed, run_name, predictor_path, rerank)
    if verify:
        run_space, _, stored = locate_run(run_dir, space, target, "verify")
        _verify(run_space, run_dir, stored["seed"], run_config, data_dir)
    return load_run(run_dir)


def _bring_upstream(space: str, run_config: RunConfig, data_dir, with_predictor: bool) -> None:
    """Every stage before search in the stage table's order (:func:`apq.stages.table.plan`)."""
    from apq.data.fetch import ensure_fashion_mnist
    from apq.space.registry import create_space
    from apq.stages.table import plan

    def data() -> None:
        if create_space(space).config.dataset == "fashion-mnist":
            ensure_fashion_mnist(data_dir)

    steps = {"data": data,
             "supernet": lambda: supernet(space, preset=run_config, data_dir=data_dir),
             "samples_fp32": lambda: samples(space, data_dir=data_dir, preset=run_config),
             "samples_quant": lambda: samples(space, quant=True, data_dir=data_dir, preset=run_config),
             "predictor": lambda: predictor(space, preset=run_config)}
    for stage in plan("predictor" if with_predictor else "supernet"):
        steps[stage.name]()


def _search(space_arg: str, target_arg: str, run_config: RunConfig, latency, energy, baselines: bool, seed,
            run_name, predictor_path, rerank: dict) -> Path:
    """Search and write the run folder; returns it."""
    from apq.hardware.cost import CostTable
    from apq.hardware.target import create_target
    from apq.search.constraint import resolve_constraint
    from apq.search.outputs import default_run_name, new_run_dir
    from apq.search.run import search_and_write
    from apq.space.genome import Rules
    from apq.space.registry import create_space

    preset, search_config = run_config.preset, run_config.search
    search_space = create_space(space_arg)
    seed = preset.seed if seed is None else seed
    target = create_target(target_arg, preset, search_space.name)
    if energy is not None and not target.has_energy:  # before the cpu target times any layer
        raise UserError(f"target '{target.name}' cannot measure energy; constrain --latency instead")
    table = CostTable(search_space, target)
    rules = Rules(search_space, table.target.forbidden)
    constraint = resolve_constraint(table, rules, latency, energy, search_config.default_budget_samples, seed)
    run_dir = new_run_dir(search_space.name, table.target.name, run_name or default_run_name(seed))
    quant_predictor, predictor_info = _load_predictor(search_space, predictor_path)
    fp32_predictor = _fp32_predictor(search_space, predictor_info) if baselines else None
    search_and_write(run_dir, table, quant_predictor, predictor_info, constraint, search_config, preset, seed,
                     baselines, fp32_predictor, _reranker(space_arg, run_config, **rerank))
    return run_dir


def _reranker(space_arg: str, run_config: RunConfig, jobs, backend, address, data_dir):
    """How the search measures its shortlists (None when ``search.rerank_k`` is 1): quantized
    samples' settings on the space's supernet."""
    if run_config.search.rerank_k <= 1:
        return None
    from apq.nn.runtime import usable_cpus
    from apq.samples.evaluate import SampleJob
    from apq.search.rerank import Reranker
    from apq.stages.layout import supernet_path
    from apq.space.registry import create_space

    job = SampleJob(space_arg, "quant", run_config.preset, run_config.samples, run_config.quant,
                    str(supernet_path(create_space(space_arg).name)), None if data_dir is None else str(data_dir))
    return Reranker(job, jobs or usable_cpus(), backend, address)


def _load_predictor(space, path):
    from apq.predictor.load import load_quant_predictor, predictor_path

    loaded = load_quant_predictor(space, path)
    return loaded, {"path": str(path or predictor_path(space.name, "quant")), "kind": "quant",
                    "encoding_dim": int(loaded.encoding_dim)}


def _fp32_predictor(space, predictor_info: dict):
    """The fp32 predictor for the sequential baseline (``predictors/<space>/fp32.pt``), or None
    when there is none (e.g. only an imported APQ checkpoint): that baseline then scores its
    architecture stages with the quantization-aware predictor at W8A8. Notes which in ``predictor_info``."""
    from apq.predictor.load import load_fp32_predictor, predictor_path

    path = predictor_path(space.name, "fp32")
    if not path.exists():
        log.warning("no %s: the sequential baseline scores its architecture stages at W8A8", path)
        predictor_info["sequential_fp32_predictor"] = None
        return None
    predictor_info["sequential_fp32_predictor"] = str(path)
    return load_fp32_predictor(space, path)


def verify(run: "Run | str | Path | None" = None, *, space: str | None = None, target: str | None = None,
           steps: int | None = None, threads: int | None = None, preset: str | RunConfig | None = None,
           settings: Settings = (), config_file: str | Path | None = None, data_dir: str | Path | None = None,
           supernet_path: str | Path | None = None) -> dict:
    """Quantization-aware fine-tune and test-split accuracy of a run's winner and baseline winners
    (resumable; a no-op when up to date); returns ``verify.json`` as a dict.

    ``run``: a :class:`Run`, a run folder, a run name, or None for the latest run of ``space`` /
    ``target``. ``preset`` None: the run's own preset with its seed and splits. ``steps`` (fine-tune
    steps per model) and ``threads`` (torch threads) are shorthands for ``verify.qat_steps`` and
    ``verify.num_threads``, applied last.
    """
    run_space, run_dir, stored = locate_run(run, space, target, "verify")
    run_config = config(run_base_config(run_dir) if preset is None else preset, settings, config_file)
    for origin, key, value in (("steps", "verify.qat_steps", steps), ("threads", "verify.num_threads", threads)):
        if value is not None:
            run_config = run_config.override({key: value}, origin)
    return _verify(run_space, run_dir, stored["seed"], run_config, data_dir, supernet_path)


def _verify(space, run_dir: Path, seed: int, run_config: RunConfig, data_dir, supernet_path=None) -> dict:
    from apq.nn.runtime import pick_device
    from apq.samples.data import load_sample_data
    from apq.supernet.checkpoint import load_supernet
    from apq.verify.run import verify_run

    net, meta = load_supernet(space, supernet_path, pick_device())
    data = load_sample_data(space, run_config.preset, data_dir, run_config.supernet)
    return verify_run(run_dir, net, data, run_config.quant, run_config.verify, seed, meta)


def finetune(run: "Run | str | Path | None" = None, *, space: str | None = None, target: str | None = None,
             epochs: float | None = None, teacher: str | None = None, threads: int | None = None,
             preset: str | RunConfig | None = None, settings: Settings = (), config_file: str | Path | None = None,
             data_dir: str | Path | None = None, supernet_path: str | Path | None = None) -> dict:
    """Train a verified run's winner further with quantization in the loop, distilled from an fp32
    teacher (resumable; a no-op when up to date); returns ``finetune.json`` as a dict (``acc_before``,
    ``acc_after`` on the test split). ``apq export`` then exports ``finetuned.pt``.

    ``run`` and ``preset`` as in :func:`verify`. ``epochs``, ``teacher`` (largest or subnet) and
    ``threads`` are shorthands for ``finetune.epochs``, ``finetune.teacher`` and
    ``finetune.num_threads``, applied last.
    """
    from apq.finetune.run import finetune_run
    from apq.nn.runtime import pick_device
    from apq.samples.data import load_sample_data
    from apq.supernet.checkpoint import load_supernet

    run_space, run_dir, stored = locate_run(run, space, target, "finetune")
    run_config = config(run_base_config(run_dir) if preset is None else preset, settings, config_file)
    for origin, key, value in (("epochs", "finetune.epochs", epochs), ("teacher", "finetune.teacher", teacher),
                               ("threads", "finetune.num_threads", threads)):
        if value is not None:
            run_config = run_config.override({key: value}, origin)
    if not (run_dir / "winner.pt").is_file():  # before loading the supernet and the dataset
        raise UserError(f"run {run_dir} has no winner.pt; run 'apq verify {run_dir}' first")
    net, meta = load_supernet(run_space, supernet_path, pick_device())
    data = load_sample_data(run_space, run_config.preset, data_dir, run_config.supernet)
    return finetune_run(run_dir, net, meta, data, run_config.finetune, run_config.quant, stored["seed"])


def run_base_config(run_dir: Path) -> RunConfig:
    """The run's preset, its ``preset`` section (seed, splits) as the run stored it."""
    from apq.export.run import run_preset

    stored = run_preset(run_dir)
    return replace(preset_config(stored.name), preset=stored)


def export(run: "Run | str | Path | None" = None, *, format: str = "all", space: str | None = None, target: str | None = None,
           output: str | Path | None = None, test_images: int = 0, threads: int = 0,
           data_dir: str | Path | None = None) -> Path:
    """Export a verified run's joint winner (its fine-tuned model when ``apq finetune`` made one) as ``model.pt`` + ``model.json`` and/or ``model.onnx`` (QDQ),
    checked on the first ``test_images`` test images (0 = all); returns the export folder.

    ``format``: onnx, torch or all; ``output`` default ``<run>/export``; ``run`` as in :func:`verify`.
    """
    from apq.export.run import FORMATS, ExportOptions, export_run
    from apq.extras import require_extra

    if format not in FORMATS:
        raise UserError(f"unknown export format '{format}'; choose one of {', '.join(FORMATS)}")
    if "onnx" in FORMATS[format]:
        require_extra(("onnx", "onnxruntime"), "export", f"apq export --format {format}")
    run_space, run_dir, _ = locate_run(run, space, target, "export")
    options = ExportOptions(FORMATS[format], test_images, threads=threads)
    folder, _ = export_run(run_dir, run_space, Path(output) if output else None, options, data_dir)
    return folder


# ----- runs --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Run:
    """A search run folder read back: ``config`` (config.json), ``best`` (best.json: the winner and
    each baseline's), ``front`` (pareto.csv: one dict per front member of every method, numbers as
    float, blanks and NaN as None, ``genome`` a list of choice indices), ``logbook`` (logbook.csv:
    per generation and method, read alike), ``verify`` (verify.json, None before verification)."""

    path: Path
    config: dict
    best: dict
    front: list[dict]
    logbook: list[dict]
    verify: dict | None

    @property
    def name(self) -> str:
        return self.path.name

    def space(self):
        """The :class:`~apq.space.space.SearchSpace` the run searched, rebuilt from its stored config
        (a built-in or a user space alike)."""
        from apq.space.config import SpaceConfig
        from apq.space.space import SearchSpace

        return SearchSpace(SpaceConfig.from_dict(self.config["space_config"]["config"]))

    def candidates(self) -> dict:
        """Every evaluated candidate (``candidates.csv.gz``, read on each call: a default run with
        baselines holds ~300,000 rows) as numpy columns: ``method`` (str), ``generation`` and
        ``feasible`` (int64), ``predicted_acc`` (%), ``latency_ms``, ``energy_mj`` (NaN where the
        target has none), ``bitops`` (float64), and ``genome`` (int64, N x genes)."""
        from apq.search.candidates import CANDIDATES, read_candidates

        path = self.path / CANDIDATES
        if not path.is_file():
            raise UserError(f"run {self.path} has no {CANDIDATES} (searched before every candidate was kept); "
                            "rerun 'apq search'")
        columns, genomes = read_candidates(path, self.space())
        return {**columns, "genome": genomes}


def load_run(path_or_name: str | Path | None = None, space: str | None = None, target: str | None = None) -> Run:
    """A run folder read back as a :class:`Run`: a path, a run name of ``space`` (default fmnist) /
    ``target``, or None for the latest run there (the ``latest`` link or text file)."""
    from apq.search.outputs import resolve_run_dir
    from apq.space.registry import create_space

    if path_or_name is not None and Path(path_or_name).is_dir():
        run_dir = resolve_run_dir("", "", str(path_or_name))
    else:
        run_dir = resolve_run_dir(create_space(space or "fmnist").name, target or "",
                                  None if path_or_name is None else str(path_or_name))
    verify_file = run_dir / "verify.json"
    return Run(path=run_dir, config=_read_json(run_dir / "config.json"), best=_read_json(run_dir / "best.json"),
               front=_read_table(run_dir / "pareto.csv"), logbook=_read_table(run_dir / "logbook.csv"),
               verify=_read_json(verify_file) if verify_file.is_file() else None)


def locate_run(run, space: str | None = None, target: str | None = None, verb: str = "use"):
    """(space, run folder, its config.json) of ``run`` (see :func:`verify`), checked to belong to
    ``space`` (default: the run's); ``verb`` names the caller in the error when neither run nor target is given."""
    from apq.space.registry import create_space

    if isinstance(run, Run):
        run = run.path
    if run is None and target is None:
        raise UserError(f"give a RUN or --target to {verb} the latest run of that target")
    loaded = load_run(run, space, target)
    stored = loaded.config.get("space")
    run_space = create_space(space) if space else loaded.space()
    if stored != run_space.name:
        raise UserError(f"run {loaded.path} searched space '{stored}', not '{run_space.name}'; pass --space {stored}")
    return run_space, loaded.path, loaded.config


def _read_json(path: Path) -> dict:
    return json.loads(path.read_text())


def _read_table(path: Path) -> list[dict]:
    """Rows of a run's CSV file as dicts (see :func:`_cell`)."""
    if not path.is_file():
        return []
    with open(path, newline="") as handle:
        return [{key: _cell(key, value) for key, value in row.items()} for row in csv.DictReader(handle)]


def _cell(key: str, value: str):
    """One CSV cell: text columns as they are, a genome as ints, a number as int or float, and a
    blank or NaN (a statistic with no feasible candidate yet) as None."""
    if key in _TEXT_COLUMNS:
        return value
    if key == "genome":
        return [int(part) for part in value.split()]
    try:
        return int(value)
    except ValueError:
        pass
    try:
        number = float(value)
    except ValueError:
        return None if value == "" else value
    return None if math.isnan(number) else number
