"""The one config loader: YAML -> dataclasses (ours) or TRL's own config classes, strictly checked.

Every error names the file, the key path and what was expected (``ConfigError``, one line, exit 2).
Our dataclasses carry help text and bounds in field metadata::

    @dataclass
    class Cfg:
        k: int = field(default=5, metadata={"help": "trials per item", "ge": 1})

``ge`` / ``gt`` / ``le`` / ``lt`` are checked when the config is read, before any step runs; ``choices``
limits a value to a set. ``describe(cls)`` prints the help of every field (``fleming config show``).

TRL's ``SFTConfig`` / ``GRPOConfig`` are read from a YAML mapping by ``trl_args`` (through
``transformers.HfArgumentParser``), not mirrored field by field.
"""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from fleming.errors import ConfigError

_BOUNDS = {"ge": (lambda v, b: v >= b, ">="), "gt": (lambda v, b: v > b, ">"),
           "le": (lambda v, b: v <= b, "<="), "lt": (lambda v, b: v < b, "<")}


def load_yaml(path: str | Path) -> dict[str, Any]:
    """The mapping in a YAML file (an empty file is an empty mapping)."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: invalid YAML: {str(e).splitlines()[0]}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level: expected a mapping, got {type(data).__name__}")
    return data


def _key(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _check_bounds(f: dataclasses.Field, value: Any, path: str, file: str) -> None:
    meta = f.metadata
    if value is None:
        return
    for name, (ok, sym) in _BOUNDS.items():
        if name in meta and isinstance(value, int | float) and not ok(value, meta[name]):
            raise ConfigError(f"{file}: {path}: expected a value {sym} {meta[name]}, got {value!r}")
    if "choices" in meta and value not in meta["choices"]:
        raise ConfigError(f"{file}: {path}: expected one of {', '.join(map(str, meta['choices']))}, "
                          f"got {value!r}")


def build(cls: type, data: Any, where: str, file: str) -> Any:
    """A dataclass from a mapping, recursively; unknown keys, bad types and out-of-range values raise
    ``ConfigError`` naming ``file`` and the key path.

    >>> from dataclasses import dataclass, field
    >>> @dataclass
    ... class C:
    ...     n: int = field(default=1, metadata={"ge": 1})
    >>> build(C, {"n": "3"}, "", "c.yaml").n
    3
    >>> build(C, {"n": 0}, "sec", "c.yaml")
    Traceback (most recent call last):
    fleming.errors.ConfigError: c.yaml: sec.n: expected a value >= 1, got 0
    """
    if data is None:
        return cls()
    kwargs = convert(cls, data, where, file)
    try:
        return cls(**kwargs)
    except (ValueError, TypeError) as e:  # a __post_init__ check across fields
        raise ConfigError(f"{file}: {where or 'top level'}: {e}") from None


def convert(cls: type, data: Any, where: str, file: str, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """The checked keyword arguments of ``cls`` for the keys of ``data`` (types, bounds, choices, nested
    dataclasses); keys in ``skip`` are left for the caller to convert. Unknown keys raise ``ConfigError``."""
    if not isinstance(data, dict):
        raise ConfigError(f"{file}: {where or 'top level'}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(map(str, data)) - set(fields))
    if unknown:
        raise ConfigError(f"{file}: {_key(where, unknown[0])}: unknown key; "
                          f"expected one of {', '.join(sorted(fields))}")
    kwargs = {}
    for key, value in data.items():
        path, tp = _key(where, key), hints[key]
        if key in skip:
            kwargs[key] = value
            continue
        if dataclasses.is_dataclass(tp):
            kwargs[key] = build(tp, value, path, file)
            continue
        if typing.get_origin(tp) is list and dataclasses.is_dataclass(typing.get_args(tp)[0]):
            if not isinstance(value, list):
                raise ConfigError(f"{file}: {path}: expected a list")
            item = typing.get_args(tp)[0]
            kwargs[key] = [build(item, v, f"{path}[{i}]", file) for i, v in enumerate(value)]
            continue
        try:
            kwargs[key] = TypeAdapter(tp).validate_python(value, strict=False)
        except ValidationError as e:
            raise ConfigError(f"{file}: {path}: {e.errors()[0]['msg']} (got {value!r})") from None
        _check_bounds(fields[key], kwargs[key], path, file)
    return kwargs


def load(cls: type, path: str | Path, section: str | None = None) -> Any:
    """``cls`` from a YAML file: the whole file, or its ``section`` when the file is a whole-run config
    that has one (so ``fleming cot CONFIG`` takes the cot section alone or the run config)."""
    data = load_yaml(path)
    where = ""
    if section and section in data and section not in {f.name for f in dataclasses.fields(cls)}:
        data, where = data[section], section
    return build(cls, data, where, str(path))


def trl_args(cls: type, data: dict[str, Any] | None, where: str, file: str, **explicit: Any) -> Any:
    """A TRL/transformers ``TrainingArguments`` subclass (``SFTConfig``, ``GRPOConfig``) from YAML.

    ``explicit`` holds the settings the caller fixes (objective, device); a YAML key that contradicts
    one is an error, so what the objective is never depends on where a value came from.
    """
    from transformers import HfArgumentParser

    data = dict(data or {})
    if not isinstance(data, dict):
        raise ConfigError(f"{file}: {where}: expected a mapping")
    names = {f.name for f in dataclasses.fields(cls) if f.init}
    for key in data:
        if key not in names:
            raise ConfigError(f"{file}: {_key(where, key)}: not a field of {cls.__name__}")
    for key, value in explicit.items():
        if key in data and data[key] != value:
            raise ConfigError(f"{file}: {_key(where, key)}: fixed to {value!r} by fleming, got {data[key]!r}")
        data[key] = value
    try:
        (args,) = HfArgumentParser(cls).parse_dict(data, allow_extra_keys=False)
    except (ValueError, TypeError) as e:
        raise ConfigError(f"{file}: {where}: {str(e).splitlines()[0]}") from None
    return args


def describe(cls: type, prefix: str = "") -> list[str]:
    """One line per field: key, type, default and help (nested dataclasses flattened)."""
    lines = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            lines += describe(tp, _key(prefix, f.name))
            continue
        default = f.default if f.default is not dataclasses.MISSING else (
            f.default_factory() if f.default_factory is not dataclasses.MISSING else "...")
        help_ = f.metadata.get("help", "")
        lines.append(f"{_key(prefix, f.name)} = {default!r}  # {help_}".rstrip(" #"))
        item = typing.get_args(tp)[0] if typing.get_origin(tp) is list else None
        if item is not None and dataclasses.is_dataclass(item):  # the fields of each entry
            lines += describe(item, _key(prefix, f.name) + "[]")
    return lines
