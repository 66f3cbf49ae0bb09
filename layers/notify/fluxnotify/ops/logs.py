"""Logs on stderr for the command line and the local stack.

Structured JSON (Powertools Logger) by default, on Lambda and wherever stderr is a file or a
pipe (a log collector reads it). On a terminal, one short line per record instead:

    02:41:09 delivered Kustomization/flux-system/apps → flux-system/slack (12 ms)
    02:41:10 WARNING delivery failed HelmRelease/monitoring/kube-prometheus → flux-system/teams: HTTP 500

FLUXNOTIFY_LOG_FORMAT=json|text overrides the choice. Both carry the same (redacted) fields.
"""

from __future__ import annotations

import logging
import os
import sys
import time

ROOT = "fluxnotify"  # every module logs under it (logging.getLogger(__name__))
# Shown in their own words by HumanFormatter; the rest of the extras as key=value.
_SHOWN = {"object", "provider", "providers", "alert", "duration_ms", "error", "rule", "provider_type"}
_HIDDEN = {"message_id", "attempt", "reason", "outcome", "cluster", "service", "xray_trace_id"}
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}
MAX_VALUE = 120
MAX_ERROR = 240  # an error is what one reads the line for: longer, but still one line


def configure_logging(level: str) -> None:
    """Log at LOG_LEVEL when set, else at ``level``."""
    level = os.environ.get("LOG_LEVEL", level)
    if human_logs():
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(HumanFormatter())
        root = logging.getLogger(ROOT)
        root.handlers[:] = [handler]
        root.setLevel(level.upper())
        root.propagate = False
        return
    from aws_lambda_powertools import Logger

    Logger(service=ROOT, level=level, logger_handler=logging.StreamHandler(sys.stderr))


def human_logs() -> bool:
    chosen = os.environ.get("FLUXNOTIFY_LOG_FORMAT", "").lower()
    if chosen in ("json", "text"):
        return chosen == "text"
    if os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
        return False
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


class HumanFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = {k: v for k, v in vars(record).items() if k not in _STANDARD}
        parts = [time.strftime("%H:%M:%S", time.localtime(record.created))]
        if record.levelno >= logging.WARNING:
            parts.append(record.levelname)
        parts.append(record.getMessage())
        if fields.get("object"):
            parts.append(str(fields["object"]))
        targets = fields.get("providers") or ([fields["provider"]] if fields.get("provider") else [])
        if targets:
            parts.append("→ " + ", ".join(str(t) for t in targets))
        notes = [str(fields["provider_type"])] if fields.get("provider_type") else []
        if isinstance(fields.get("duration_ms"), int | float):
            notes.append(f"{fields['duration_ms']:.0f} ms")
        if notes:
            parts.append(f"({', '.join(notes)})")
        extras = [f"{k}={_short(v)}" for k, v in fields.items() if k not in _SHOWN | _HIDDEN and v not in (None, "")]
        text = " ".join(parts + extras)
        if fields.get("rule"):
            text += f": {_short(fields['rule'])}"
        if fields.get("error"):
            text += f": {_short(fields['error'], MAX_ERROR)}"
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


def _short(value: object, limit: int = MAX_VALUE) -> str:
    text = " ".join(str(value).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
