"""The run directory: resolved config, tokenizer, checkpoints, metrics."""
import os
import tempfile

import ml_collections

from xling_jax.configs import loading
from xling_jax.errors import UserError

CONFIG_FILE = "config.json"
# Sections that must match to continue a run; the rest (steps, logging cadence...) may change on resume.
# The augmentation keys (data.noise.*, tokenizer.sampling_*: data/augment.py) are among them: they change the
# data stream, which a resumed run continues exactly only with the values it started with.
FIXED_SECTIONS = ("seed", "data", "tokenizer", "model")
SAMPLING_KEYS = ("sampling_alpha", "nbest", "sampling_sides")  # of the tokenizer section: data, not vocabulary


def prepare(workdir: str) -> str:
    """Creates the workdir if needed and checks that it is writable."""
    workdir = os.path.abspath(os.path.expanduser(workdir))
    if os.path.exists(workdir) and not os.path.isdir(workdir):
        raise UserError(f"workdir {workdir} exists and is not a directory; pass another --workdir")
    try:
        os.makedirs(workdir, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=workdir):
            pass
    except OSError as e:
        raise UserError(f"workdir {workdir} is not writable ({e.strerror}); pass a writable --workdir") from None
    return workdir


def load_config(workdir: str) -> ml_collections.ConfigDict:
    path = os.path.join(workdir, CONFIG_FILE)
    if not os.path.isfile(path):
        raise UserError(f"{workdir} holds no trained run ({CONFIG_FILE} missing); train one with "
                        f"`xling train --workdir {workdir}` or pass the right --workdir")
    with open(path, encoding="utf-8") as f:
        saved = loading.from_json(f.read())
    # Keys added to the code after the run was started take their defaults.
    return loading.with_defaults(saved)


def imported_fixed(config: ml_collections.ConfigDict) -> tuple[str, ...]:
    """The keys fixed in a run of imported params without a data state yet: its model and vocabulary, not
    what it reads (data, seed, the tokenizer's sampling keys)."""
    return ("model",) + tuple(f"tokenizer.{k}" for k in config.tokenizer if k not in SAMPLING_KEYS)


def save_config(workdir: str, config: ml_collections.ConfigDict, fixed=FIXED_SECTIONS) -> None:
    """Writes config.json, refusing to mix a different model/data/tokenizer into an existing run
    (the `fixed` sections or dotted keys, e.g. "classify.pooling")."""
    path = os.path.join(workdir, CONFIG_FILE)
    if os.path.isfile(path):
        old = load_config(workdir).to_dict()
        new = config.to_dict()
        changed = [k for k in fixed if _get(old, k) != _get(new, k)]
        if changed:
            diffs = _diff({k: _get(old, k) for k in changed}, {k: _get(new, k) for k in changed})
            raise UserError(f"{workdir} already holds a run with another {'/'.join(changed)} config "
                            f"({'; '.join(diffs[:3])}); use a new --workdir or the original config")
    import jax
    if jax.process_index() != 0:  # one writer per run; every process has checked the saved config above
        return
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(loading.to_json(config))
    os.replace(tmp, path)


def _get(config: dict, key: str):
    for part in key.split("."):
        config = config.get(part) if isinstance(config, dict) else None
    return config


def _diff(old: dict, new: dict, prefix: str = "") -> list[str]:
    out = []
    for k in sorted(set(old) | set(new)):
        a, b = old.get(k), new.get(k)
        if isinstance(a, dict) and isinstance(b, dict):
            out += _diff(a, b, f"{prefix}{k}.")
        elif a != b:
            out.append(f"{prefix}{k}: {a!r} -> {b!r}")
    return out
