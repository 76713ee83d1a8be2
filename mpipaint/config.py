"""Options, written once: each verb's dataclass declares its fields with `option(...)` (default, help, how the
flag looks), and from that one declaration come the command-line flags (`add_options`, defaults shown in
the help), the values taken from them (`cli_values`) and the YAML section (`section`), one per verb,
validated against the dataclass: unknown sections or keys and values of the wrong type are errors that
name the file and the key. Fields declared without `option` are for YAML configs only."""
from __future__ import annotations

import dataclasses
import math
from pathlib import Path

from mpipaint.errors import InputError


def option(default=None, help: str = "", *, flag: str = None, positional: bool = False, nargs=None,
           metavar=None, choices=None, repeat: bool = False, item_type=None, verbs=None, to_value=None,
           shown=None):
    """A dataclass field that is also a command-line option. `flag`: its name when not --field-name;
    `positional`: an optional positional argument; `repeat`: the flag may be given several times (a list);
    `nargs`/`item_type`: a list flag (default nargs '+', items typed like the default's); `verbs`: only these
    verbs of a shared options class show it; `to_value`: converts the flag's value into the field's, and
    `shown` the default into the flag's terms for the help."""
    return dataclasses.field(default=default, metadata={
        "help": help, "flag": flag, "positional": positional, "nargs": nargs, "metavar": metavar,
        "choices": choices, "repeat": repeat, "item_type": item_type, "verbs": verbs, "to_value": to_value,
        "shown": shown})


@dataclasses.dataclass(frozen=True)
class Options:
    """Base of every verb's options: a value outside an `option`'s `choices` is refused here, once, however
    the options were made (flags, a YAML section, code)."""

    def __post_init__(self):
        for f in dataclasses.fields(self):
            choices, value = f.metadata.get("choices"), getattr(self, f.name)
            for item in value if isinstance(value, tuple) else (value,):
                if choices and item is not None and item not in choices:
                    raise ValueError(f"{f.name} must be one of {tuple(choices)}, not {item!r}")


def _shown(value) -> str:
    if isinstance(value, (tuple, list)):
        return " ".join(_shown(v) for v in value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def _cli_fields(options_class, verb=None):
    """The fields of `options_class` declared with `option` that `verb` shows."""
    return [f for f in dataclasses.fields(options_class) if "help" in f.metadata
            and (f.metadata["verbs"] is None or verb in f.metadata["verbs"])]


def add_options(parser, options_class, verb=None) -> None:
    """One argparse argument per `option` field of `options_class`, its default (kept in the dataclass, so
    that a config file can sit between the two) shown in its help."""
    for f in _cli_fields(options_class, verb):
        m, default = f.metadata, f.default
        shown = _shown(m["shown"](default) if m["shown"] else default)
        stated = default not in (None, ()) and not isinstance(default, bool)  # a switch's default is its absence
        kwargs = {"help": m["help"] + (f" (default {shown})" if stated else ""), "default": None}
        if m["choices"]:
            kwargs["choices"] = m["choices"]
        if m["metavar"] or (m["flag"] and not isinstance(default, bool)):
            kwargs["metavar"] = m["metavar"] or m["flag"].lstrip("-").upper().replace("-", "_")
        if isinstance(default, bool):
            kwargs.update(action="store_const", const=not default)
        elif m["repeat"]:
            kwargs["action"] = "append"
        elif m["nargs"] or isinstance(default, tuple):
            item = m["item_type"] or (type(default[0]) if default else str)
            kwargs.update(nargs=m["nargs"] or "+", type=item)
        elif isinstance(default, (int, float)):
            kwargs["type"] = type(default)
        elif m["item_type"]:
            kwargs["type"] = m["item_type"]
        if m["positional"]:
            parser.add_argument(f.name, **{"nargs": "?", **kwargs})
        else:
            parser.add_argument(m["flag"] or "--" + f.name.replace("_", "-"), dest=f.name, **kwargs)


def cli_values(args, options_class, verb=None) -> dict:
    """{field: value} of the flags given on the command line (None where not given), lists as tuples."""
    values = {}
    for f in _cli_fields(options_class, verb):
        value = getattr(args, f.name, None)
        if isinstance(value, list):
            value = tuple(value)
        if value is not None and f.metadata["to_value"] is not None:
            value = f.metadata["to_value"](value)
        values[f.name] = value
    return values


def load_yaml(path) -> dict:
    """Parse a YAML config file into a dict of sections."""
    import yaml  # noqa: PLC0415 - only where a config is read: paint runs on nodes without PyYAML

    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: config file not found")
    if not path.is_file():
        raise InputError(f"{path}: --config must name a YAML file, and this is not a regular file")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise InputError(f"{path}: not valid YAML: {exc}") from None
    except (OSError, UnicodeDecodeError, RecursionError) as exc:
        raise InputError(f"{path}: not a readable YAML config ({type(exc).__name__}: {exc})") from None
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
        if isinstance(value, str):  # `target: y` for a list of names
            return (value,)
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
