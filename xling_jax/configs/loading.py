"""Loading Python config files and applying `--config.KEY=VALUE` overrides."""
import ast
import difflib
import importlib.util
import json
import os

import ml_collections

from xling_jax.configs import default
from xling_jax.errors import UserError

DEFAULT_CONFIG = os.path.join(os.path.dirname(__file__), "default.py")


def load_config_file(path: str | None) -> ml_collections.ConfigDict:
    """Runs `get_config()` of a Python config file (the default config if None); `FILE.py:ARG` runs
    `get_config("ARG")` (big_vision style, e.g. experiments/ablations/pre_ln.py:real)."""
    module, arg = load_module(path or DEFAULT_CONFIG)
    if not hasattr(module, "get_config"):
        raise UserError(f"config file {path} has no get_config() function")
    try:
        return module.get_config() if arg is None else module.get_config(arg)
    except (TypeError, KeyError, AttributeError, ValueError) as e:
        # e.g. a str assigned to an int key: ml_collections refuses it while get_config() runs.
        raise UserError(f"config file {path}: {type(e).__name__}: {' '.join(str(e).split())}") from None


def load_module(path: str):
    """(module, ARG or None): executes a Python config (or sweep) file `FILE.py` or `FILE.py:ARG`."""
    arg = None
    if not os.path.isfile(path) and ":" in path:
        path, arg = path.rsplit(":", 1)
    if not os.path.isfile(path):
        raise UserError(f"config file {path!r} does not exist; pass a Python file with get_config(), "
                        "e.g. experiments/bible_en_es.py")
    spec = importlib.util.spec_from_file_location("xling_user_config", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module, arg


def all_keys(config: ml_collections.ConfigDict, prefix: str = "") -> list[str]:
    keys = []
    for k, v in config.items():
        if isinstance(v, ml_collections.ConfigDict):
            keys += all_keys(v, f"{prefix}{k}.")
        else:
            keys.append(prefix + k)
    return keys


def _parse_value(text: str, old):
    if isinstance(old, bool):
        low = text.lower()
        if low in ("true", "1", "yes"):
            return True
        if low in ("false", "0", "no"):
            return False
        raise ValueError(f"expected true or false, got {text!r}")
    if isinstance(old, str):
        return text
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        value = text
    if isinstance(old, float) and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if isinstance(old, tuple) and isinstance(value, (list, str)):
        value = tuple(value) if isinstance(value, list) else tuple(v for v in value.split(",") if v)
    if old is not None and not _fits(value, old):
        raise ValueError(f"expected {type(old).__name__}, got {text!r}")
    return value


def _fits(value, default) -> bool:
    """Whether `value` may replace `default`: the same type (an int for a float, a list for a
    tuple), a bool only for a bool."""
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(value, bool) and isinstance(default, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float))
    if isinstance(default, tuple):
        return isinstance(value, (tuple, list))
    return isinstance(value, type(default))


def check_schema(config: ml_collections.ConfigDict) -> None:
    """One UserError for the first key the default config lacks (a typo in a config file) or whose
    value has another type than the default's. Sections that are empty by default (data.sources)
    hold free-form entries."""
    defaults = default.get_config()
    known = all_keys(defaults)

    def walk(node, ref, prefix):
        for k, v in node.items():
            key = prefix + k
            if k not in ref:
                close = difflib.get_close_matches(key, known, n=1)
                hint = f" (did you mean {close[0]}?)" if close else ""
                raise UserError(f"unknown config key {key!r}{hint}")
            d = ref[k]
            if isinstance(d, ml_collections.ConfigDict):
                if not isinstance(v, ml_collections.ConfigDict):
                    raise UserError(f"config key {key!r} must be a section (ConfigDict), got {v!r}")
                if len(d):
                    walk(v, d, key + ".")
            elif d is not None and not _fits(v, d):
                raise UserError(f"config key {key!r} must be of type {type(d).__name__} (like its default {d!r}), "
                                f"got {type(v).__name__} {v!r}")
    walk(config, defaults, "")


def apply_overrides(config: ml_collections.ConfigDict, overrides: dict[str, str]) -> None:
    """Sets dotted keys from strings, keeping each key's type; unknown keys are errors."""
    keys = all_keys(config)
    for key, text in overrides.items():
        if key not in keys:
            close = difflib.get_close_matches(key, keys, n=1)
            hint = f" (did you mean --config.{close[0]}?)" if close else ""
            raise UserError(f"unknown config key {key!r}{hint}")
        *parents, leaf = key.split(".")
        node = config
        for p in parents:
            node = node[p]
        try:
            node[leaf] = _parse_value(text, node[leaf])
        except (ValueError, TypeError) as e:
            raise UserError(f"bad value for --config.{key}: {e}") from None


def to_json(config: ml_collections.ConfigDict) -> str:
    return json.dumps(config.to_dict(), indent=2, sort_keys=True)


def from_json(text: str) -> ml_collections.ConfigDict:
    def fix(d):
        # JSON turns tuples into lists; the config contract uses tuples.
        return {k: fix(v) if isinstance(v, dict) else tuple(v) if isinstance(v, list) else v for k, v in d.items()}
    return ml_collections.ConfigDict(fix(json.loads(text)))


def with_defaults(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """`config` with any key it lacks taken from the default config (for runs saved by older code)."""

    def fill(node, defaults):
        for k, v in defaults.items():
            if k not in node:
                node[k] = v
            elif isinstance(v, ml_collections.ConfigDict) and isinstance(node[k], ml_collections.ConfigDict):
                fill(node[k], v)
    fill(config, default.get_config())
    return config
