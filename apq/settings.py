"""What every stage's settings dataclass shares: its dict form, validated overrides, lookup by preset.

Each stage (supernet, samples, quantization, predictor, search, verify) keeps its own frozen
dataclass with one named instance per preset; this mixin gives them the same behaviour, and
:mod:`apq.config` gathers them into one run config that users override by key.
"""
from __future__ import annotations

from dataclasses import asdict, replace

from apq.errors import UserError


class Settings:
    """Mixin for frozen settings dataclasses. ``what`` names them in error messages."""

    what = "setting"

    def to_dict(self) -> dict:
        return asdict(self)

    def override(self, **changes):
        """Copy with fields replaced; unknown fields or bad values are a user error."""
        try:
            return replace(self, **changes)
        except (TypeError, ValueError) as err:
            raise UserError(f"bad {self.what}: {err}") from None


def settings_for(table: dict, preset: str, what: str):
    """``table[preset]``; a :class:`UserError` listing the presets when it has none for ``preset``."""
    if preset not in table:
        raise UserError(f"no {what} settings for preset '{preset}'; choose one of {', '.join(table)}")
    return table[preset]
