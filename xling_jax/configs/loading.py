"""Loading Python config files and applying `--config.KEY=VALUE` overrides."""
import ast
import difflib
import importlib.util
import json
import os

import ml_collections

from xling_jax.errors import UserError

DEFAULT_CONFIG = os.path.join(os.path.dirname(__file__), "default.py")


def load_config_file(path: str | None) -> ml_collections.ConfigDict:
    """Runs `get_config()` of a Python config file (the default config if None)."""
    path = path or DEFAULT_CONFIG
    if not os.path.isfile(path):
        raise UserError(f"config file {path!r} does not exist; pass a Python file with get_config(), "
                        "e.g. experiments/bible_en_es.py")
    spec = importlib.util.spec_from_file_location("xling_user_config", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if not hasattr(module, "get_config"):
        raise UserError(f"config file {path} has no get_config() function")
    return module.get_config()


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
    if old is not None and not isinstance(value, type(old)):
        raise ValueError(f"expected {type(old).__name__}, got {text!r}")
    return value


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
    from xling_jax.configs import default

    def fill(node, defaults):
        for k, v in defaults.items():
            if k not in node:
                node[k] = v
            elif isinstance(v, ml_collections.ConfigDict) and isinstance(node[k], ml_collections.ConfigDict):
                fill(node[k], v)
    fill(config, default.get_config())
    return config
