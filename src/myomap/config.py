"""Typed job configurations as YAML: every output folder gets the settings that produced it."""

from __future__ import annotations

from dataclasses import asdict, fields
from typing import TypeVar

import yaml

T = TypeVar("T")


class ConfigError(ValueError):
    """A configuration file or value that cannot be used."""


def to_yaml(config) -> str:
    """A dataclass as YAML, tuples written as lists."""
    data = {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(config).items()}
    return yaml.safe_dump(data, sort_keys=False)


def from_yaml(cls: type[T], text: str, **overrides) -> T:
    """Build dataclass ``cls`` from YAML text; unknown keys are an error, lists become tuples.

    ``overrides`` (None values ignored) win over the file.
    """
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"not valid YAML ({exc})") from None
    if not isinstance(data, dict):
        raise ConfigError("expected a mapping of settings")
    data.update({k: v for k, v in overrides.items() if v is not None})
    known = {f.name for f in fields(cls)}
    unknown = set(data) - known
    if unknown:
        raise ConfigError(f"unknown settings: {', '.join(sorted(unknown))}; known: {', '.join(sorted(known))}")
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})
