"""Settings made of one model per concern, each read under its own environment prefix.

Why this shape: operators' `.env` files, compose, k8s manifests, `.env.example` and the tests
all use flat variable names (`ECPAY_MERCHANT_ID`, `MEDIA_BACKEND`, `S3_BUCKET`). pydantic-settings
reads a nested model only from `<OUTER>__<INNER>` names (`env_nested_delimiter`), which would
rename every variable. So each concern is a `BaseSettings` of its own whose `env_prefix` (or a
field's `validation_alias`, for the few names outside the prefix) spells exactly the old name,
and the process settings hold the concerns as fields.

`ComposedSettings.__init__` builds those fields: a concern not given is read from the
environment with the same `_env_file` as its parent (so `CommerceSettings(_env_file=None)`
ignores `.env` all the way down); a concern given as a dict is read from the environment too,
with the dict's values on top. That dict is the one way tests override a nested setting:
`CommerceSettings(payments={"ecpay": {"merchant_id": "3999999"}})`, and `updated(...)` does the
same on a built object (validated, the object's own values for the rest). An unknown keyword is a
`TypeError`, so a test still passing an old flat name (`ecpay_merchant_id=`) fails loudly
instead of being ignored by `extra="ignore"` (which stays, for `.env` files shared by processes).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any, Self

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict
from pydantic_settings.sources import ENV_FILE_SENTINEL, DotenvType

ROOT = Path(__file__).resolve().parent.parent.parent
VAR_DIR = ROOT / "var"


class ComposedSettings(BaseSettings):
    """A settings model whose fields may themselves be settings models (concerns)."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", frozen=True,
        populate_by_name=True,
    )

    def __init__(self, _env_file: DotenvType | None = ENV_FILE_SENTINEL, **values: Any) -> None:
        cls = type(self)
        unknown = sorted(set(values) - _accepted_names(cls))
        if unknown:
            raise TypeError(f"{cls.__name__} has no setting {', '.join(unknown)}")
        for name, concern in _concerns(cls).items():
            given = values.get(name)
            if given is None:
                values[name] = concern(_env_file=_env_file)
            elif isinstance(given, Mapping):
                values[name] = concern(_env_file=_env_file, **given)
        super().__init__(_env_file=_env_file, **values)

    def updated(self, **changes: Any) -> Self:
        """A validated copy with `changes`; a dict for a concern changes only the settings it
        names: `settings.updated(payments={"ecpay": {"base_url": url}})`. Every other value is
        this object's, not the environment's."""
        return type(self)(_env_file=None, **_merge(self.model_dump(), changes))

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        """pydantic's copy, refusing names that are not fields: a stale flat name would
        otherwise become an attribute nothing reads."""
        unknown = sorted(set(update or ()) - set(type(self).model_fields))
        if unknown:
            raise TypeError(f"{type(self).__name__} has no setting {', '.join(unknown)}")
        return super().model_copy(update=update, deep=deep)

    @classmethod
    def env_name(cls, field: str) -> str:
        """The environment variable that sets `field` of this model."""
        alias = cls.model_fields[field].validation_alias
        if isinstance(alias, str):
            return alias.upper()
        return (str(cls.model_config.get("env_prefix", "")) + field).upper()

    @classmethod
    def env_names(cls) -> Iterator[tuple[str, type[ComposedSettings], str]]:
        """(variable, model, field) for every setting, concerns included, in field order."""
        concerns = _concerns(cls)
        for field in cls.model_fields:
            if field in concerns:
                yield from concerns[field].env_names()
            else:
                yield cls.env_name(field), cls, field

    @classmethod
    def find_model(cls, name: str) -> type[ComposedSettings] | None:
        """This model or the concern below it with the class name `name` (error messages)."""
        if cls.__name__ == name:
            return cls
        for concern in _concerns(cls).values():
            found = concern.find_model(name)
            if found is not None:
                return found
        return None


def _merge(values: dict[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(values)
    for name, value in changes.items():
        current = merged.get(name)
        if isinstance(value, Mapping) and isinstance(current, dict):
            value = _merge(current, value)
        elif isinstance(value, ComposedSettings):
            value = value.model_dump()
        merged[name] = value
    return merged


@cache
def _concerns(cls: type[ComposedSettings]) -> dict[str, type[ComposedSettings]]:
    return {
        name: field.annotation
        for name, field in cls.model_fields.items()
        if isinstance(field.annotation, type) and issubclass(field.annotation, ComposedSettings)
    }


@cache
def _accepted_names(cls: type[ComposedSettings]) -> frozenset[str]:
    names = set(cls.model_fields)
    names.update(
        f.validation_alias for f in cls.model_fields.values() if isinstance(f.validation_alias, str)
    )
    return frozenset(names)


def plain(value: object) -> str:
    """A setting's value as text, secrets revealed (for comparing with their defaults)."""
    return value.get_secret_value() if isinstance(value, SecretStr) else str(value)
