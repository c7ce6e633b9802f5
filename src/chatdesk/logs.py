"""Structured logging: JSON lines in production, readable lines in development.

Every line passes :func:`redact`, which blanks secrets by key name and by
shape (bearer tokens, session cookies), and escapes control characters so a
name with CR/LF or ANSI codes cannot forge a log line.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["configure_logging", "get_logger", "redact"]


@contextmanager
def _rich_hidden() -> Iterator[None]:
    """Imports inside it find no rich, unless it is loaded already.

    structlog imports rich whenever it is installed (typer installs it), for pretty
    tracebacks in its console renderer: about 4 MiB in every process that logs. chatdesk
    never uses them, since ``format_exc_info`` turns exceptions into text before any
    renderer sees them; without rich, structlog falls back to plain tracebacks. The CLI
    commands that do use rich import it later, as usual.
    """
    if "rich" in sys.modules:
        yield
        return
    sys.modules["rich"] = None  # type: ignore[assignment]  # "import rich" raises ImportError
    try:
        yield
    finally:
        if sys.modules.get("rich", True) is None:
            del sys.modules["rich"]


with _rich_hidden():
    import structlog

_SECRET_KEYS = re.compile(
    r"pass(word)?|secret|token|cookie|authorization|api[_-]?key|csrf|session|body", re.I
)
_SECRET_SHAPES = re.compile(
    r"cd[vsk]_[A-Za-z0-9_-]{8,}|whsec_[A-Za-z0-9+/=]{8,}|Bearer\s+\S+", re.I
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f\x1b]")
_SAFE_KEYS = {"event", "level", "timestamp", "logger", "status", "duration_ms", "method"}


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        value = _SECRET_SHAPES.sub("[redacted]", value)
        return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", value)
    if isinstance(value, dict):
        return {
            k: ("[redacted]" if _SECRET_KEYS.search(str(k)) else _clean(v))
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def redact(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """Blank secrets and escape control characters in every field of a log line."""
    out: dict[str, Any] = {}
    for key, value in event_dict.items():
        if key not in _SAFE_KEYS and key != "exc_info" and _SECRET_KEYS.search(key):
            out[key] = "[redacted]"
        else:
            out[key] = (
                _SECRET_SHAPES.sub("[redacted]", value)  # tracebacks keep their newlines
                if key == "exception" and isinstance(value, str)
                else value
                if key == "exc_info"
                else _clean(value)
            )
    return out


def get_logger(name: str) -> Any:
    """A structlog logger, for modules that log structured lines (structlog comes from
    here, imported without rich)."""
    return structlog.get_logger(name)


def configure_logging(fmt: str, level: str, production: bool) -> None:
    """Route stdlib and structlog output through one redacting pipeline."""
    use_json = fmt == "json" or (fmt == "auto" and production)
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        redact,
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if use_json
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        # Drop lines below the level before any processor runs (the request line is hot).
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    # The request middleware writes the access line (with redaction); uvicorn's would repeat it
    # with the raw query string.
    logging.getLogger("uvicorn.access").disabled = True
