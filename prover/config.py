"""Typed command configs: one dataclass per command is its CLI, its `--config FILE` and its manifest entry.

A command's settings are the fields of its config dataclass(es):

    python -m prover prove        prover.run.runner.RunConfig
    python -m autoform            autoform.run.RunConfig + autoform.pipeline.FormalizeConfig
    python -m prover.train        prover.train.iteration.IterationConfig
    python -m prover.train.launch prover.train.launch.LaunchConfig (the trainer's flags follow `--`)
    python -m prover.train.trainer prover.train.trainer.TrainConfig
    scripts/bench_generate.py, scripts/bench_lean.py: BenchGenerateConfig, BenchLeanConfig

`ConfigParser` (a `transformers.HfArgumentParser`, imported on first use) derives the flags from the fields: `--field-name` (and `--field_name`), the
type from the annotation, the default from the field, the help from `field(metadata={"help": ...})`. Field
metadata this module adds to HfArgumentParser's:

    aliases=["--gen-opt"]  more flag names (HfArgumentParser's own)
    positional=True        a positional argument (nargs="?") instead of a flag
    repeat=True            a repeatable flag (`--prelude A --prelude B`); flags given replace the file's list
    split=True             with repeat: each flag value is split on whitespace (`--train-arg "--lr 1e-4"`)
    kv=True                repeatable KEY=VALUE items into a dict (`--gen-opt temperature=0.8`; `parse_kv`);
                           a flag overrides the file's value of its key, the file's other keys stay
    parse=callable         converts the flag's text (and a file's value) into the field's type (Budget.parse)
    cli=False              not a setting: set by the program (argv, factories for tests), not by flags or files
    no_flag="--no-eos"     a True-by-default bool's historical "off" flag (besides --no-<name>)

A bool field is `--name` (store_true) and, when it defaults to True, `--no-name` too: a bare flag never eats
the positional argument after it.

`--config FILE` (YAML or JSON, a mapping of field names to values) fills the fields first and the command
line overrides it: the file's values become the parser's defaults before the flags are parsed. A key that
is no field is an error naming it. `config_dict` turns a config into JSON-able data for the manifest;
`config_diff` lists the fields where two such dicts differ (dotted keys, e.g. `gen_options.temperature`);
each command's `--resume` compares its recorded config with the new one except its `RESUME_MAY_CHANGE`.
Bad flags and files raise ConfigError (a ValueError), which each command prints as one line, exit 2.

There is one KEY=VALUE parser: `parse_kv` (with `parse_value` for its values); `Budget.parse` uses it too.
"""
from __future__ import annotations

import argparse
import copy
import dataclasses
import functools
import json
import types
import typing
from enum import Enum
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence


class ConfigError(ValueError):
    """A bad config file or value; the message names the file, the key and what was wrong."""


def help_meta(text: str, **more: Any) -> dict:
    """A config field's metadata: its `--help` text and any of the keys above (aliases, ...)."""
    return {"help": text, **more}


# ---------------------------------------------------------------------------------------- KEY=VALUE
def parse_value(text: str) -> Any:
    """`"8"` -> 8, `"0.5"` -> 0.5, `"true"/"false"/"none"` -> True/False/None (any case), else the text."""
    text = text.strip()
    for conv in (int, float):
        try:
            return conv(text)
        except ValueError:
            pass
    return {"true": True, "false": False, "none": None}.get(text.lower(), text)


def parse_kv(items: Iterable[str] | str, what: str = "--gen-opt", sep: str | None = None,
             convert: Callable[[str], Any] = parse_value) -> dict[str, Any]:
    """`["temperature=0.8", "mode=beam"]` (or, with `sep=","`, `"a=1,b=2"`) as a dict, values converted by
    `convert`. An item without `=` or with an empty key is a ValueError naming `what` and the item."""
    if isinstance(items, str):
        items = items.split(sep) if sep else [items]
    out: dict[str, Any] = {}
    for item in items:
        if not item.strip():
            continue
        key, eq, val = item.partition("=")
        if not eq or not key.strip():
            raise ValueError(f"bad {what} item {item!r}: expected KEY=VALUE")
        out[key.strip()] = convert(val.strip())
    return out


# ---------------------------------------------------------------------------------------- the parser
def cli_fields(dtype: type) -> list[dataclasses.Field]:
    """The fields of `dtype` that are settings (flags and file keys): init fields without `cli=False`."""
    return [f for f in dataclasses.fields(dtype) if f.init and f.metadata.get("cli", True)]


class _Repeat(argparse.Action):
    """`append` whose first use on the command line replaces the default (the file's or the field's list);
    KEY=VALUE items (`kv`) update a copy of the default instead, key by key."""

    def __init__(self, *args, split: bool = False, kv: bool = False, convert=None, **kw):
        self.split, self.kv, self.convert = split, kv, convert
        super().__init__(*args, **kw)

    def __call__(self, parser, namespace, values, option_string=None):
        seen = namespace.__dict__.setdefault("_given", set())
        current = getattr(namespace, self.dest, None)
        if self.kv:
            base = dict(current or {})
            try:
                base.update(parse_kv([values], what=option_string or self.dest))
            except ValueError as e:
                parser.error(str(e))
            new: Any = base
        else:
            base = list(current or ()) if self.dest in seen else []
            items = values.split() if self.split else [values]
            new = base + [self.convert(x) if self.convert else x for x in items]
        seen.add(self.dest)
        setattr(namespace, self.dest, new)


def _plain_type(tp: Any) -> Any:
    """`X | None` -> X; other types unchanged."""
    args = typing.get_args(tp)
    if args and type(None) in args and len(args) == 2:
        return next(a for a in args if a is not type(None))
    return tp


def _item_type(tp: Any) -> Any:
    """The element type of list[X] / tuple[X, ...] / Sequence[X] (str when unknown)."""
    args = [a for a in typing.get_args(_plain_type(tp)) if a is not Ellipsis]
    return args[0] if args else str


def _hf_argument_parser() -> type:
    """transformers' HfArgumentParser. Its module needs only the stdlib and yaml, while `import transformers`
    costs 1.5-3.5 s (measured: `prove --help` 4.3 s against 1.0 s before), so the module is loaded from its
    file alone; should a later transformers version need its package, the ordinary import serves."""
    import importlib.util

    spec = importlib.util.find_spec("transformers")  # locates the package without running its __init__
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / "hf_argparser.py"
        if path.is_file():
            try:
                sub = importlib.util.spec_from_file_location("prover._hf_argparser", path)
                mod = importlib.util.module_from_spec(sub)
                sub.loader.exec_module(mod)  # type: ignore[union-attr]
                return mod.HfArgumentParser
            except ImportError:  # it grew a relative import
                break
    from transformers import HfArgumentParser

    return HfArgumentParser


@functools.cache
def parser_class() -> type:
    """`ConfigParser`: built on first use, so that importing this module does not import transformers."""
    HfArgumentParser = _hf_argument_parser()  # noqa: N806 - a class

    class ConfigParser(HfArgumentParser):
        """HfArgumentParser with the metadata of the module doc and `--config FILE`; `parse_config` returns the
        dataclass instances. Also usable as argparse's `parser_class` for sub-commands (`dataclass_types=...`)."""

        def __init__(self, dataclass_types=None, **kwargs):
            kwargs.setdefault("formatter_class", _Formatter)
            dtypes = [dataclass_types] if dataclasses.is_dataclass(dataclass_types) else list(dataclass_types or [])
            super().__init__([], **kwargs)  # fields added here: HfArgumentParser would add the cli=False ones too
            self.dataclass_types = dtypes
            for dtype in dtypes:
                self._add_config_arguments(dtype)
            if dtypes:
                self.add_argument("--config", dest="config_file", default=None, metavar="FILE",
                                  help="YAML or JSON mapping of settings, keyed by flag name without "
                                  "the dashes (gen_opt: {temperature: 0.8}); flags given override it")

        # --- fields -> arguments
        def _add_config_arguments(self, dtype: type) -> None:
            hints = typing.get_type_hints(dtype)
            for f in cli_fields(dtype):
                f.type = hints[f.name]
                self._add_field(f)

        def _add_field(self, f: dataclasses.Field) -> None:
            md = dict(f.metadata)
            mine = {k: md.pop(k) for k in ("positional", "repeat", "split", "kv", "parse", "cli", "no_flag") if k in md}
            aliases = md.pop("aliases", [])
            aliases = [aliases] if isinstance(aliases, str) else list(aliases)
            own = [f"--{f.name.replace('_', '-')}"] + ([f"--{f.name}"] if "_" in f.name else [])
            names = aliases + [n for n in own if n not in aliases]  # an alias is the flag's historical name
            default = _default(f)
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING \
                    and not mine.get("positional"):
                md["required"] = True  # unless a config file gives it (parse_known_args)
            tp = _plain_type(f.type)
            if mine.get("positional"):
                self.add_argument(f.name, nargs="?", default=default, type=_as_type(mine.get("parse") or tp), **md)
            elif mine.get("kv"):
                md.setdefault("metavar", "KEY=VALUE")
                self.add_argument(*names, dest=f.name, action=_Repeat, kv=True, default=default, **md)
            elif mine.get("repeat"):
                md.setdefault("metavar", names[0].lstrip("-").replace("-", "_").upper())
                conv = mine.get("parse") or _item_type(f.type)
                self.add_argument(*names, dest=f.name, action=_Repeat, split=bool(mine.get("split")),
                                  convert=None if conv is str else conv, default=default, **md)
            elif tp is bool:
                self.add_argument(*names, dest=f.name, action="store_true", default=default, **md)
                if default is True:
                    off = [f"--no-{f.name.replace('_', '-')}"]
                    off = ([mine["no_flag"]] if "no_flag" in mine else []) + off
                    self.add_argument(*off, dest=f.name, action="store_false", help=f"the opposite of {names[0]}")
            elif "parse" in mine or tp in (str, int, float, Path):
                if aliases:
                    md.setdefault("metavar", names[0].lstrip("-").replace("-", "_").upper())
                self.add_argument(*names, dest=f.name, type=_as_type(mine.get("parse") or tp), default=default, **md)
            else:  # plain types, Optional, Literal, Enum: HfArgumentParser's own handling
                g = copy.copy(f)
                g.metadata = types.MappingProxyType({**md, "aliases": aliases})
                HfArgumentParser._parse_dataclass_field(self, g)

        def error(self, message: str):
            """A ConfigError instead of argparse's usage-and-exit: each command prints it as one line, exit 2."""
            raise ConfigError(message)

        # --- --config FILE, then the command line
        def parse_known_args(self, args=None, namespace=None):
            saved = [(a, a.default, a.required) for a in self._actions], dict(self._defaults)
            try:
                if self.dataclass_types:
                    pre = argparse.ArgumentParser(add_help=False)
                    pre.add_argument("--config", dest="config_file", default=None)
                    known, _ = pre.parse_known_args(args)
                    if known.config_file:  # the file's values become defaults: a flag given still wins
                        values = load_config_file(known.config_file, self.dataclass_types)
                        self.set_defaults(**values)
                        for action in self._actions:
                            if action.dest in values:
                                action.required = False
                ns, rest = super().parse_known_args(args, namespace)
            finally:  # the parser stays as built: a second parse does not see this one's file
                for action, default, required in saved[0]:
                    action.default, action.required = default, required
                self._defaults = saved[1]
            ns.__dict__.pop("_given", None)
            return ns, rest

        def parse_config(self, args: Sequence[str] | None = None) -> tuple:
            """The dataclass instances from `--config FILE` and the flags; ConfigError on bad input."""
            ns = self.parse_args(args)
            return configs_from_namespace(self.dataclass_types, ns)

    return ConfigParser


def ConfigParser(dataclass_types=None, **kwargs) -> argparse.ArgumentParser:  # noqa: N802 - used as a class
    """A `parser_class()` instance (see there)."""
    return parser_class()(dataclass_types, **kwargs)


class _Formatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Descriptions as written (they hold usage examples); a default shown after the help when it says
    something (not for on/off flags, empty values, or a help that states its default itself)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        d = action.default
        if (action.nargs == 0 or d in (None, (), [], {}) or (dataclasses.is_dataclass(d) and not isinstance(d, type))
                or "default" in (action.help or "")):
            return action.help or ""
        return super()._get_help_string(action)


def _as_type(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """`parse` whose ValueError message reaches the user (argparse would print only "invalid value")."""
    if parse in (str, int, float, Path):
        return parse

    def convert(text: str) -> Any:
        try:
            return parse(text)
        except (TypeError, ValueError) as e:
            raise argparse.ArgumentTypeError(str(e)) from None

    convert.__name__ = getattr(parse, "__name__", "value")
    return convert


def _default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        return f.default_factory()  # type: ignore[misc]
    return None


def configs_from_namespace(dtypes: Sequence[type], ns: argparse.Namespace) -> tuple:
    out = []
    for dtype in dtypes:
        values = {f.name: getattr(ns, f.name) for f in cli_fields(dtype) if hasattr(ns, f.name)}
        out.append(dtype(**values))
    return tuple(out)


# ---------------------------------------------------------------------------------------- files
def read_config_file(path: str | Path) -> dict[str, Any]:
    """The mapping in a YAML (.yaml/.yml) or JSON file; ConfigError naming the file otherwise."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file not found: {p}")
    text = p.read_text(encoding="utf-8")
    try:
        if p.suffix.lower() in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
    except Exception as e:  # noqa: BLE001 - yaml and json raise their own kinds; all mean "not readable"
        raise ConfigError(f"config file {p}: not valid {'YAML' if p.suffix.lower() in ('.yaml', '.yml') else 'JSON'}"
                          f" ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {p}: expected a mapping of setting names to values, got {type(data).__name__}")
    return data


def load_config_file(path: str | Path, dtypes: Sequence[type]) -> dict[str, Any]:
    """The file's values keyed by field name and converted to the fields' types. A key is a field name or a
    flag's name (`gen_opt` for `gen_options`), with `-` or `_`; a key that is neither is a ConfigError naming it
    and the known ones; a value of the wrong type is one naming the key."""
    data = read_config_file(path)
    fields = {f.name: (f, typing.get_type_hints(dt)[f.name]) for dt in dtypes for f in cli_fields(dt)}
    alias = {a.lstrip("-").replace("-", "_"): name for name, (f, _) in fields.items()
             for a in ([f.metadata["aliases"]] if isinstance(f.metadata.get("aliases"), str)
                       else f.metadata.get("aliases", ()))}

    def field_name(key: Any) -> str:
        k = str(key).replace("-", "_")
        return alias.get(k, k)

    unknown = [k for k in data if field_name(k) not in fields]
    if unknown:
        raise ConfigError(f"config file {path}: unknown key{'s' if len(unknown) > 1 else ''} "
                          f"{', '.join(map(repr, unknown))}; known keys: {', '.join(sorted(fields))}")
    out = {}
    for key, value in data.items():
        name = field_name(key)
        f, tp = fields[name]
        try:
            out[name] = _from_file(f, tp, value)
        except (TypeError, ValueError) as e:
            raise ConfigError(f"config file {path}: key {key!r}: {e}") from None
    return out


def _from_file(f: dataclasses.Field, tp: Any, value: Any) -> Any:
    md, plain = f.metadata, _plain_type(tp)
    if value is None:
        return None
    if "parse" in md and not md.get("repeat"):
        return md["parse"](value)  # a parse function takes the flag's text and the file's value (e.g. a mapping)
    if md.get("kv"):
        if isinstance(value, dict):
            return dict(value)
        if isinstance(value, (list, str)):
            return parse_kv(value if isinstance(value, list) else [value], what=f.name)
        raise TypeError(f"expected a mapping of KEY: VALUE, got {value!r}")
    if md.get("repeat"):
        items = value if isinstance(value, list) else [value]
        if md.get("split"):
            items = [x for item in items for x in str(item).split()]
        conv = md.get("parse") or _item_type(tp)
        return [x if conv is str or not isinstance(x, str) else conv(x) for x in items]
    if plain is bool:
        if not isinstance(value, bool):
            raise TypeError(f"expected true or false, got {value!r}")
        return value
    if plain in (int, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (plain is int and isinstance(value, float)):
            raise TypeError(f"expected {'an integer' if plain is int else 'a number'}, got {value!r}")
        return plain(value)
    if isinstance(plain, type) and issubclass(plain, Enum):
        return plain(value)
    if plain in (str, Path):
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise TypeError(f"expected a string, got {value!r}")
        return plain(str(value))
    return value


# ---------------------------------------------------------------------------------------- manifest
def config_dict(*configs: Any) -> dict[str, Any]:
    """The settings of one or more configs as JSON-able data (Paths as text, nested dataclasses as dicts,
    tuples as lists); fields with `cli=False` are left out."""
    out: dict[str, Any] = {}
    for cfg in configs:
        for f in cli_fields(type(cfg)):
            out[f.name] = _jsonable(getattr(cfg, f.name))
    return out


def _jsonable(v: Any) -> Any:
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        return {k: _jsonable(x) for k, x in dataclasses.asdict(v).items()}
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, Path):
        return str(v)
    if isinstance(v, Enum):
        return v.value
    return v


def _flatten(d: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(d, dict) and d:
        out: dict[str, Any] = {}
        for k, v in d.items():
            out.update(_flatten(v, f"{prefix}{k}."))
        return out
    return {prefix[:-1]: d}


def config_diff(old: dict, new: dict, ignore: Iterable[str] = ()) -> list[tuple[str, Any, Any]]:
    """`(dotted key, old value, new value)` for every setting that differs, keys under `ignore` (a key or a
    prefix of one: `gen_options.api_key`, `workers`) skipped. A key missing on one side counts as `<unset>`."""
    ignore = tuple(ignore)
    a, b = _flatten(old), _flatten(new)
    diffs = []
    for key in sorted(set(a) | set(b)):
        if any(key == i or key.startswith(i + ".") for i in ignore):
            continue
        va, vb = a.get(key, UNSET), b.get(key, UNSET)
        if json.dumps(va, sort_keys=True, default=str) != json.dumps(vb, sort_keys=True, default=str):
            diffs.append((key, va, vb))
    return diffs


class _Unset:
    def __repr__(self) -> str:
        return "<unset>"


UNSET = _Unset()


def describe_diff(diffs: Sequence[tuple[str, Any, Any]]) -> str:
    """`"gen_options.temperature: 1.0 -> 0.8; imports: ['Lean'] -> ['Mathlib']"` (the run's value first)."""
    return "; ".join(f"{k}: {a!r} -> {b!r}" for k, a, b in diffs)


__all__ = ["ConfigError", "ConfigParser", "parse_value", "parse_kv", "config_dict", "config_diff",
           "describe_diff", "load_config_file", "read_config_file", "cli_fields"]
