"""One typed run config: every stage's settings section, presets as named instances, user overrides.

    config = resolve_config("smoke", ["search.population=200"], "run.toml")
    config.search.population    # 200
    config.section("verify")    # the VerifyConfig section

Sections are the stages' own frozen, validated dataclasses (:data:`SECTIONS`), so a stage function
takes ``config.search`` and stores its ``to_dict()`` with its artifacts as before. Settings are
resolved in this order: the preset (``smoke``, ``default``, ``full``: :data:`PRESETS`), then a TOML
or JSON file (one table / object per section), then ``section.field=value`` overrides in order.
Every value is parsed to its field's type and each changed section is validated once, after all
its changes; an unknown key, a bad type or an invalid value is a one-line :class:`UserError`.
Each section keeps its preset's ``name``; it is not a setting (choose the preset instead).
"""
from __future__ import annotations

import difflib
import json
import math
import tomllib
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from functools import cache
from pathlib import Path

import apq as _apq
from apq.errors import UserError
from apq.finetune.config import FINETUNE_PRESETS, FinetuneConfig
from apq.predictor.config import PREDICTOR_PRESETS, PredictorConfig
from apq.presets import PRESETS as PRESET_SECTIONS, Preset
from apq.quant.config import QUANT_PRESETS, QuantConfig
from apq.samples.config import SAMPLE_PRESETS, SampleConfig
from apq.search.config import SEARCH_PRESETS, SearchConfig
from apq.supernet.config import SUPERNET_PRESETS, SupernetConfig
from apq.verify.config import VERIFY_PRESETS, VerifyConfig

#: Section name -> its settings dataclass, in pipeline order.
SECTIONS = {"preset": Preset, "supernet": SupernetConfig, "samples": SampleConfig, "quant": QuantConfig,
            "predictor": PredictorConfig, "search": SearchConfig, "verify": VerifyConfig,
            "finetune": FinetuneConfig}
_TABLES = {"preset": PRESET_SECTIONS, "supernet": SUPERNET_PRESETS, "samples": SAMPLE_PRESETS,
           "quant": QUANT_PRESETS, "predictor": PREDICTOR_PRESETS, "search": SEARCH_PRESETS, "verify": VERIFY_PRESETS,
           "finetune": FINETUNE_PRESETS}
FILE_SUFFIXES = (".toml", ".json")


@dataclass(frozen=True)
class RunConfig:
    """Every setting of a run, one section per stage (see the module docstring)."""

    preset: Preset
    supernet: SupernetConfig
    samples: SampleConfig
    quant: QuantConfig
    predictor: PredictorConfig
    search: SearchConfig
    verify: VerifyConfig
    finetune: FinetuneConfig

    @property
    def name(self) -> str:
        """The preset this config started from."""
        return self.preset.name

    def section(self, name: str):
        """The settings dataclass of section ``name``; :class:`UserError` naming the sections otherwise."""
        if name not in SECTIONS:
            raise UserError(f"unknown settings section '{name}'; sections are {', '.join(SECTIONS)}")
        return getattr(self, name)

    def to_dict(self) -> dict:
        """``{section: {field: value}}`` with lists for tuples: JSON-ready, and a valid config file."""
        return {name: {key: list(value) if isinstance(value, tuple) else value
                       for key, value in getattr(self, name).to_dict().items()} for name in SECTIONS}

    def override(self, changes: Mapping[str, object], origin: str = "override") -> "RunConfig":
        """Copy with ``{"section.field": value}`` applied; values may be typed or text.

        ``origin`` (e.g. "--generations") names where the changes came from in error messages.
        """
        return _apply(self, [_Change(key, value, f"{origin} ({key}={_show(value)})")
                             for key, value in changes.items()])


PRESETS = {name: RunConfig(**{section: table[name] for section, table in _TABLES.items()}) for name in PRESET_SECTIONS}


def preset_config(name: str) -> RunConfig:
    """The :class:`RunConfig` of a preset name; :class:`UserError` listing the presets for an unknown one."""
    if name not in PRESETS:
        raise UserError(f"unknown preset '{name}'; choose one of {', '.join(PRESETS)}")
    return PRESETS[name]


def resolve_config(preset: str = "default", overrides: Sequence[str] = (),
                   config_file: str | Path | None = None) -> RunConfig:
    """The preset ``preset``, then the settings of ``config_file`` (.toml or .json), then each
    ``"section.field=value"`` of ``overrides`` in order (a later one wins)."""
    return apply_settings(preset_config(preset), overrides, config_file)


def apply_settings(base: RunConfig, overrides: Sequence[str] = (), config_file: str | Path | None = None) -> RunConfig:
    """:func:`resolve_config` starting from ``base`` instead of a preset name."""
    changes = _read_config_file(config_file) if config_file is not None else []
    return _apply(base, changes + [_parse_override(text) for text in overrides])


@dataclass(frozen=True)
class _Change:
    """One requested setting: ``key`` "section.field", ``value`` typed or text, ``origin`` for errors."""

    key: str
    value: object
    origin: str


def _parse_override(text: str) -> _Change:
    key, sep, value = text.partition("=")
    if not sep or "." not in key:
        raise UserError(f"--set {text}: give SECTION.FIELD=VALUE, e.g. --set search.population=200")
    return _Change(key.strip(), value.strip(), f"--set {text}")


def _read_config_file(path: str | Path) -> list[_Change]:
    """The settings of a TOML or JSON file (``{section: {field: value}}``), in file order."""
    path = Path(path)
    if path.suffix.lower() not in FILE_SUFFIXES:
        raise UserError(f"--config {path}: give a .toml or .json file")
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as err:
        reason = getattr(err, "strerror", None) or err
        raise UserError(f"cannot read --config {path}: {reason}; check the path") from None
    try:
        data = tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as err:
        kind = path.suffix.lower().lstrip(".").upper()
        raise UserError(f"--config {path} is not valid {kind}: {err}; fix the file") from None
    if not isinstance(data, dict) or not all(isinstance(table, dict) for table in data.values()):
        raise UserError(f"--config {path}: give one table per section, e.g. [search] population = 200 "
                        f"(JSON: {{\"search\": {{\"population\": 200}}}})")
    return [_Change(f"{section}.{key}", value, f"{path.name}: {section}.{key}={_show(value)}")
            for section, table in data.items() for key, value in table.items()]


def _apply(config: RunConfig, changes: list[_Change]) -> RunConfig:
    """``config`` with ``changes``: each value parsed, then each changed section validated once."""
    by_section: dict[str, dict[str, tuple[object, str]]] = {}
    for change in changes:
        section, field = _check_key(change)
        if field == "name":
            _check_name(getattr(config, section), change)
            continue
        value = _parse(change.value, _field_types(section)[field], change.origin)
        by_section.setdefault(section, {})[field] = (value, change.origin)
    for section, values in by_section.items():
        try:
            new = replace(getattr(config, section), **{field: value for field, (value, _) in values.items()})
        except (TypeError, ValueError) as err:
            origins = ", ".join(dict.fromkeys(origin for _, origin in values.values()))
            raise UserError(f"{origins}: {err}") from None
        config = replace(config, **{section: new})
    return config


def _check_key(change: _Change) -> tuple[str, str]:
    section, _, field = change.key.partition(".")
    if section not in SECTIONS:
        raise UserError(f"unknown setting '{change.key}' ({change.origin}); settings are SECTION.FIELD with "
                        f"SECTION one of {', '.join(SECTIONS)}, e.g. search.population")
    names = list(_field_types(section))
    if field not in names and field != "name":
        close = difflib.get_close_matches(field, names, n=1)
        hint = f"did you mean '{section}.{close[0]}'? " if close else ""
        raise UserError(f"unknown setting '{change.key}' ({change.origin}); {hint}"
                        f"{section} settings are {', '.join(names)}")
    return section, field


def _check_name(section, change: _Change) -> None:
    """A section's ``name`` may be restated (a saved config read back), not changed."""
    if change.value != section.name:
        raise UserError(f"{change.origin}: '{change.key}' is the preset's name ('{section.name}'), not a setting; "
                        f"choose the preset with --preset, or drop the key")


@cache
def _field_types(section: str) -> dict[str, object]:
    """Field name -> type of the settable fields (all but ``name``) of ``section``."""
    cls = SECTIONS[section]
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in fields(cls) if f.name != "name"}


def _parse(value, kind, origin: str):
    """``value`` (text from the command line, or a TOML/JSON value) as a ``kind``; UserError naming ``origin``."""
    try:
        return _convert(value, kind)
    except ValueError as err:
        raise UserError(f"{origin}: {err}") from None


def _convert(value, kind):
    if typing.get_origin(kind) is tuple:
        item = typing.get_args(kind)[0]
        if isinstance(value, str):
            value = [part.strip() for part in value.strip().strip("[]()").split(",") if part.strip()]
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"{_show(value)} is not a list; give comma-separated values")
        return tuple(_convert(part, item) for part in value)
    if typing.get_origin(kind) in (types.UnionType, typing.Union):
        problems = []
        for option in typing.get_args(kind):  # first type that takes the value; the section validates it
            try:
                return _convert(value, option)
            except ValueError as err:
                problems.append(str(err))
        raise ValueError(" and ".join(problems))
    return _SCALARS[kind](value)


def _to_bool(value) -> bool:
    if isinstance(value, bool):
        return value
    words = {"true": True, "false": False}
    if isinstance(value, str) and value.strip().lower() in words:
        return words[value.strip().lower()]
    raise ValueError(f"{_show(value)} is not true or false")


def _to_int(value) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    raise ValueError(f"{_show(value)} is not an integer")


def _to_float(value) -> float:
    number = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            pass
    if number is None or not math.isfinite(number):
        raise ValueError(f"{_show(value)} is not a finite number")
    return number


def _to_str(value) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{_show(value)} is not a string")
    return value


_SCALARS = {bool: _to_bool, int: _to_int, float: _to_float, str: _to_str}


def _show(value) -> str:
    """``value`` as the user wrote it: text quoted, other values in JSON."""
    return f"'{value}'" if isinstance(value, str) else json.dumps(value)


_apq.make_callable(__name__)  # apq.config(...) is apq.api.config(...) (see apq/__init__.py)
