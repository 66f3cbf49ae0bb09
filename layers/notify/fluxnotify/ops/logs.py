"""Structured JSON logs on stderr for the command line and the local stack (Powertools Logger)."""

from __future__ import annotations

import logging
import os
import sys


def configure_logging(level: str) -> None:
    """Log at LOG_LEVEL when set, else at ``level``."""
    from aws_lambda_powertools import Logger

    Logger(service="fluxnotify", level=os.environ.get("LOG_LEVEL", level), logger_handler=logging.StreamHandler(sys.stderr))
