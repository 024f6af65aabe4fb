"""The one freshness check of every stage: a stamp of what an artifact was made from.

A :class:`Stamp` records a stage's resolved settings section, the preset's shared fields (and
the space config), the digests of the upstream artifacts it read and the artifact format
version; its fingerprint is a SHA-256 of their canonical JSON. A stage compares the stamp it
would write now with the one stored beside its artifact (:func:`freshness`) and learns whether
to do nothing, finish, rebuild, or refuse:

    fresh       same fingerprint, every output present: nothing to do
    incomplete  same fingerprint, an output missing (or, for samples, indices missing): finish it
    missing     no artifact and no stamp: build it
    stale       same settings, but an upstream artifact changed: rebuild (logged)
    replace     made with other settings (another preset or config, another format, no stamp):
                a :class:`UserError` naming ``--force`` unless forced (or, for a stage cheap to
                redo such as the predictors, ``replaceable``), so that one mistyped flag never
                trains over hours of work
"""
from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Mapping

from apq.errors import UserError
from apq.io import write_json
from apq.stages.layout import stamp_path

log = logging.getLogger(__name__)

FRESH, INCOMPLETE, MISSING, STALE, REPLACE = "fresh", "incomplete", "missing", "stale", "replace"
#: Fields whose difference means "made with other settings" (not merely an upstream change).
IDENTITY = ("stage", "format", "settings", "shared")


def canonical(data) -> str:
    """Canonical JSON (sorted keys, tuples as lists): equal settings give equal text."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)


@dataclass(frozen=True)
class Stamp:
    """What one stage's artifact is made from (see the module docstring); ``fingerprint`` hashes it all."""

    stage: str
    format: str
    settings: dict
    shared: dict
    upstream: dict = field(default_factory=dict)

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(canonical(asdict(self)).encode()).hexdigest()[:16]

    def to_dict(self) -> dict:
        """Plain JSON form (what is stored), fingerprint included."""
        return {**json.loads(canonical(asdict(self))), "fingerprint": self.fingerprint}

    def text(self) -> str:
        return canonical(self.to_dict())


_DIGESTS: dict[tuple, str] = {}


def digest(path: str | Path) -> str:
    """First 16 hex digits of the SHA-256 of a file's bytes (cached per path, size and mtime)."""
    path = Path(path)
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns, st.st_ino)
    if key not in _DIGESTS:
        sha = hashlib.sha256()
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                sha.update(block)
        _DIGESTS[key] = sha.hexdigest()[:16]
    return _DIGESTS[key]


def upstream_digests(*paths: Path) -> dict:
    """``{file name: digest}`` of the upstream artifacts a stage read."""
    return {Path(p).name: digest(p) for p in paths}


def read_stamp(artifact: str | Path) -> dict | None:
    """The stamp stored beside ``artifact`` (``<stem>.stamp.json``), or None when there is none."""
    path = stamp_path(artifact)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}  # unreadable: made by no apq that stamps; treated as other settings


def write_stamp(artifact: str | Path, stamp: Stamp) -> Path:
    """Store ``stamp`` beside ``artifact``; written last, it marks the stage's outputs complete."""
    return write_json(stamp_path(artifact), stamp.to_dict())


def freshness(want: Stamp, have: Mapping | None, outputs: Iterable[Path], *, command: str,
              force: bool = False, replaceable: bool = False) -> str:
    """What a stage must do about its artifact: one of FRESH, INCOMPLETE, MISSING, STALE, REPLACE.

    ``want`` is the stamp the stage would write now, ``have`` the stored one (None: no stamp),
    ``outputs`` the files the stage writes (the first names the artifact in messages),
    ``command`` the command that rebuilds it (named in the refusal). An artifact made with other
    settings is a :class:`UserError` unless ``force`` or ``replaceable`` (then logged, REPLACE).
    ``force`` always gives REPLACE.
    """
    outputs = [Path(p) for p in outputs]
    present = [p for p in outputs if p.exists()]
    if force:
        if present:
            log.info("%s: rebuilding (--force)", outputs[0])
        return REPLACE
    if have and have.get("fingerprint") == want.fingerprint:
        if len(present) == len(outputs):
            return FRESH
        log.info("%s: finishing the run that made %s", outputs[0], ", ".join(p.name for p in present) or "its stamp")
        return INCOMPLETE
    if not present:  # only a stamp of something else is left: nothing to lose
        return MISSING
    if have and all(have.get(k) == v for k, v in want.to_dict().items() if k in IDENTITY):
        changed = sorted(k for k in set(want.upstream) | set(have.get("upstream") or {})
                         if want.upstream.get(k) != (have.get("upstream") or {}).get(k))
        log.warning("%s: rebuilding, its input %s changed since it was made", outputs[0], ", ".join(changed))
        return STALE
    if have:
        what = difference(have, want.to_dict(), ("upstream", "fingerprint"))
    else:
        what = "no stamp (made by an older apq, or copied in)"
    if replaceable:
        log.warning("%s: rebuilding, it was made with %s", outputs[0], what)
        return REPLACE
    raise UserError(f"{outputs[0]} was made with {what}; rerun with the settings it was made with, use another "
                    f"APQ_ROOT for a separate experiment, or run '{command} --force' to replace it (its work is lost)")


def _flatten(value, prefix: str = "") -> dict:
    if not isinstance(value, dict):
        return {prefix: value}
    out = {}
    for key, item in value.items():
        out.update(_flatten(item, f"{prefix}.{key}" if prefix else key))
    return out


def difference(have: Mapping, want: Mapping, skip: tuple[str, ...] = ("fingerprint",)) -> str:
    """'other settings: a.b=1 (this run: 2), ...': up to three settings that differ (top-level keys
    in ``skip`` left out)."""
    theirs = _flatten({k: v for k, v in dict(have).items() if k not in skip})
    mine = _flatten({k: v for k, v in dict(want).items() if k not in skip})
    keys = sorted((k for k in set(mine) | set(theirs) if mine.get(k) != theirs.get(k)),
                  key=lambda k: (not k.endswith(".name"), k))  # a preset's or config's name says most
    shown = ", ".join(f"{k}={theirs.get(k)!r} (this run: {mine.get(k)!r})" for k in keys[:3])
    return f"other settings: {shown}{', ...' if len(keys) > 3 else ''}"
