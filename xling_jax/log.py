"""Diagnostics through the standard library's `logging`, under the logger "xling_jax".

Modules log with `logger = log.get_logger(__name__)`. Shown by default, also from Python and Colab:
info and debug messages as plain lines on stdout, warnings and errors on stderr as `xling: warning: ...`
(`xling: error: ...`), as the CLI has always written them. The streams are looked up per message, so
redirections (Colab cells, pytest's capture) see them. `set_verbosity` (the CLI's `--verbosity`) picks
the lowest level shown; an application that configures logging itself can remove the handler.
"""
import logging
import sys

ROOT = "xling_jax"
LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}
DEFAULT_LEVEL = "info"
_info = {"stream": "stdout"}  # where info and debug lines go: "stderr" where stdout carries a command's data


class _Handler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        try:
            info_stream = sys.stdout if _info["stream"] == "stdout" else sys.stderr
            stream = info_stream if record.levelno < logging.WARNING else sys.stderr
            stream.write(self.format(record) + "\n")
            stream.flush()
        except Exception:  # noqa: BLE001 - logging's convention: report, never raise
            self.handleError(record)


class _Formatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        text = record.getMessage()
        if record.levelno >= logging.ERROR:
            return f"xling: error: {text}"
        return f"xling: warning: {text}" if record.levelno >= logging.WARNING else text


def _root() -> logging.Logger:
    root = logging.getLogger(ROOT)
    if not any(isinstance(h, _Handler) for h in root.handlers):
        handler = _Handler()
        handler.setFormatter(_Formatter())
        root.addHandler(handler)
        root.setLevel(LEVELS[DEFAULT_LEVEL])
        root.propagate = False  # shown once, not again by a root handler (absl's, a notebook's)
    return root


def get_logger(name: str) -> logging.Logger:
    """The logger of module `name` (its `__name__`), below "xling_jax"."""
    _root()
    return logging.getLogger(name)


def info_to(stream: str) -> None:
    """Write info and debug lines to "stdout" (the default) or "stderr" (when stdout is a command's data:
    translations, scores, a benchmark's JSON)."""
    _info["stream"] = stream


def settings() -> tuple:
    """What `set_verbosity` and `info_to` set, for `restore` (a CLI call from Python leaves them as they were)."""
    return _root().level, _info["stream"]


def restore(saved: tuple) -> None:
    _root().setLevel(saved[0])
    _info["stream"] = saved[1]


def set_verbosity(level: str) -> None:
    """Show messages from `level` ("debug", "info", "warning" or "error") up."""
    _root().setLevel(LEVELS[level])
