"""Alert annotation `fluxnotify.io/message`: a Jinja2 template for the event's message.

Rendered in Jinja2's sandbox (no autoescape, StrictUndefined) with:

* ``event``: the provider's view of the event with its JSON field names (involvedObject,
  severity, timestamp, message, reason, metadata, reportingController);
* ``alert``, ``provider``: their apiVersion, kind, metadata and spec — a Secret's name at
  most, never its content;
* ``cluster``: the cluster's name, "" for the unnamed one.

The sandbox refuses attributes starting with ``_`` (so ``''.__class__``,
``cycler.__init__.__globals__`` and ``self._TemplateReference__context`` fail) and
functions marked unsafe; on top, ``*`` and ``**`` are bounded and the result is cut at
MAX_OUTPUT characters, so a template cannot exhaust memory. A render error never loses a
notification: the original message is used, with a warning log and a metric.
Jinja2 is imported only when an Alert has a template.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import Any

from fluxnotify.metrics import Metrics, NullMetrics
from fluxnotify.model.event import Event
from fluxnotify.model.manifests import Alert, Provider

logger = logging.getLogger(__name__)

MAX_OUTPUT = 65_536  # characters; providers cut further to their own budgets
MAX_SEQUENCE = 100_000  # longest string/list a `*` may build
MAX_EXPONENT = 64


class TemplateError(ValueError):
    pass


@lru_cache(maxsize=1)
def _environment():
    from jinja2 import StrictUndefined
    from jinja2.sandbox import SandboxedEnvironment

    class BoundedEnvironment(SandboxedEnvironment):
        intercepted_binops = frozenset({"*", "**"})

        def call_binop(self, context, operator: str, left: Any, right: Any) -> Any:
            if operator == "**" and isinstance(right, (int, float)) and abs(right) > MAX_EXPONENT:
                raise TemplateError(f"exponent {right} is larger than {MAX_EXPONENT}")
            if operator == "*" and _builds_long_sequence(left, right):
                raise TemplateError(f"'*' would build a sequence longer than {MAX_SEQUENCE}")
            return super().call_binop(context, operator, left, right)

    return BoundedEnvironment(autoescape=False, undefined=StrictUndefined, keep_trailing_newline=False)


def _builds_long_sequence(left: Any, right: Any) -> bool:
    for seq, times in ((left, right), (right, left)):
        if isinstance(seq, (str, list, tuple)) and isinstance(times, int):
            return len(seq) * times > MAX_SEQUENCE
    return False


@lru_cache(maxsize=256)
def _compile(source: str):
    return _environment().from_string(source)


def syntax_error(source: str) -> str | None:
    """'line N: message' for a template Jinja2 cannot parse, else None."""
    from jinja2 import TemplateSyntaxError

    try:
        _compile(source)
    except TemplateSyntaxError as err:
        return f"template syntax error at line {err.lineno}: {err.message}"
    return None


def context(event: Event, alert: Alert, provider: Provider, cluster: str) -> dict[str, Any]:
    return {
        "event": event.to_dict(),
        "alert": alert.as_dict(),
        "provider": provider.as_dict(),
        "cluster": cluster,
    }


def render(source: str, values: dict[str, Any]) -> str:
    """The rendered message; raise TemplateError (or Jinja2's errors) when it fails."""
    text = _compile(source).render(**values)
    return text[:MAX_OUTPUT]


def apply(
    source: str,
    event: Event,
    alert: Alert,
    provider: Provider,
    cluster: str,
    metrics: Metrics | None = None,
) -> Event:
    """The event with its message templated; on any error, the event unchanged."""
    from dataclasses import replace

    try:
        message = render(source, context(event, alert, provider, cluster))
    except Exception as err:  # a template must never lose a notification
        logger.warning(
            "message template failed; sending the original message",
            extra={"alert": alert.metadata.key, "provider": provider.metadata.key,
                   "error": f"{type(err).__name__}: {err}"[:500]},
        )
        (metrics or NullMetrics()).count("TemplateErrors", {"ProviderType": provider.spec.type})
        return event
    return replace(event, message=message)


class TemplateStage:
    """Stage ``template``: the Alert's message template on the provider's view of the event.

    A failing template sends the original message (never lose a notification); the error is
    a field of the plan (``template_error``), so `render` shows it and exits 1. For commit
    status types the templated message becomes the status description (and only the
    template may set it).
    """

    name = "template"

    def run(self, item: Any, ctx: Any) -> Any:
        from dataclasses import replace

        from fluxnotify.providers import capabilities
        from fluxnotify.providers.git.gitstatus import MAX_TEMPLATED_DESCRIPTION, TEMPLATED_DESCRIPTION

        event, alert, provider = item.event, item.alert, item.provider
        commit_status = capabilities(provider.spec.type).commit_status
        if commit_status and TEMPLATED_DESCRIPTION in event.metadata:
            event = event.with_metadata({k: v for k, v in event.metadata.items() if k != TEMPLATED_DESCRIPTION})
        if alert is None or item.ext.template is None or ctx.digest:
            return replace(item, event=event)
        try:
            message = render(item.ext.template, context(event, alert, provider, ctx.cluster_name))
        except Exception as err:  # a template must never lose a notification
            error = f"{type(err).__name__}: {err}"[:500]
            logger.warning("message template failed; sending the original message",
                           extra={"alert": alert.metadata.key, "provider": provider.metadata.key, "error": error})
            (ctx.metrics or NullMetrics()).count("TemplateErrors", {"ProviderType": provider.spec.type})
            return replace(item, event=event, template_error=error)
        templated = replace(event, message=message)
        if commit_status:  # it becomes the status description
            description = templated.message.strip()[:MAX_TEMPLATED_DESCRIPTION]
            templated = templated.with_metadata({**templated.metadata, TEMPLATED_DESCRIPTION: description})
        return replace(item, event=templated)
