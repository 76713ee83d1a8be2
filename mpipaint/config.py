"""YAML configuration: one section per verb, each validated against that verb's dataclass of options.
Unknown sections or keys and values of the wrong type are errors that name the file and the key."""
from __future__ import annotations

import dataclasses
import math
from pathlib import Path

from mpipaint.errors import InputError


def load_yaml(path) -> dict:
    """Parse a YAML config file into a dict of sections."""
    import yaml  # noqa: PLC0415 - only where a config is read: paint runs on nodes without PyYAML

    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: config file not found")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise InputError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a mapping of sections (e.g. 'select:'), got {type(data).__name__}")
    return data


def _as_number(value, integer: bool):
    """value as int/float, accepting numeric strings: PyYAML reads '1e14' (no dot) as a string."""
    if isinstance(value, bool):
        raise ValueError
    number = float(value)
    if not math.isfinite(number):  # 'nan' and 'inf' parse as floats; no option means them
        raise ValueError
    if integer:
        if number != int(number):
            raise ValueError
        return int(number)
    return number


def _check_type(value, default, annotation: str, where):
    """value converted to the kind of `default` (number, integer, list, bool, str), or a clear error; a
    field without a default whose annotation is text (paths, names) must be text."""
    if value is None:
        return value
    if default is None:
        if annotation.startswith("str") and not isinstance(value, str):
            raise InputError(f"{where}: expected text (a path or a name), got {value!r}")
        return value
    if isinstance(default, bool):
        kind, ok = "true or false", isinstance(value, bool)
    elif isinstance(default, (int, float)):
        kind = "an integer" if isinstance(default, int) else "a finite number"
        try:
            return _as_number(value, isinstance(default, int))
        except (TypeError, ValueError):
            ok = False
    elif isinstance(default, (tuple, list)):
        kind, ok = "a list", isinstance(value, (list, tuple))
        if ok:
            return tuple(tuple(v) if isinstance(v, list) else v for v in value)
    else:
        kind, ok = f"a {type(default).__name__}", isinstance(value, type(default))
    if not ok:
        raise InputError(f"{where}: expected {kind}, got {value!r}")
    return value


def build(options_class, values: dict, where: str):
    """An `options_class` dataclass from `values`, with defaults for what is not given; strict on keys."""
    fields = {f.name: f for f in dataclasses.fields(options_class)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise InputError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(fields)}")
    checked = {}
    for name, value in values.items():
        field = fields[name]
        default = field.default if field.default is not dataclasses.MISSING else None
        checked[name] = _check_type(value, default, str(field.type), f"{where}.{name}")
    try:
        return options_class(**checked)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{where}: {exc}") from None


def section(config_path, name: str, options_class, overrides: dict, known_sections=()):
    """Options for verb `name`: the config file's section (if any), then non-None CLI `overrides`."""
    values = {}
    if config_path is not None:
        data = load_yaml(config_path)
        unknown = sorted(set(data) - set(known_sections) - {name}) if known_sections else []
        if unknown:
            raise InputError(f"{config_path}: unknown section(s) {unknown}; allowed: {sorted(known_sections)}")
        block = data.get(name) or {}
        if not isinstance(block, dict):
            raise InputError(f"{config_path}: section '{name}' must be a mapping")
        values.update(block)
    values.update({k: v for k, v in overrides.items() if v is not None})
    return build(options_class, values, f"{config_path or 'command line'}:{name}")


def plain(value):
    """Tuples to lists and dataclasses to dicts, recursively: a value YAML and JSON write as they read."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    if isinstance(value, (tuple, list)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value
