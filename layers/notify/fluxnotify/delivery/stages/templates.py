"""Alert annotation `fluxnotify.io/message`: a Jinja2 template for the event's message.

Rendered in Jinja2's immutable sandbox (no autoescape, StrictUndefined) with read-only
copies of:

* ``event``: the provider's view of the event with its JSON field names (involvedObject,
  severity, timestamp, message, reason, metadata, reportingController);
* ``alert``, ``provider``: their apiVersion, kind, metadata and spec — a Secret's name at
  most, never its content;
* ``cluster``: the cluster's name, "" for the unnamed one.

The sandbox refuses attributes starting with ``_``, unsafe functions and methods that modify
a dict, list or set (``alert.metadata.annotations.update(...)``); the context is a deep copy
besides, so nothing a template does reaches the running configuration or the event.

A render runs on a budget of time, steps and sizes, checked while it runs, with no thread
(delivery/stages/templatelimits.py); this module hooks it into Jinja2: every ``for`` iterates through
a counting iterator, every write and every ``~`` is counted, operators, calls, filters and
tests go through the checks; the output stops at MAX_OUTPUT. A failed or over-budget render never
loses a notification: the original message is used, with a warning log and a metric.
Jinja2 is imported only when an Alert has a template.
"""

from __future__ import annotations

import copy
import logging
import re
import time
from functools import lru_cache, wraps
from typing import Any

from fluxnotify.delivery.stages import templatelimits as limits
from fluxnotify.delivery.stages.templatelimits import BUDGET_SECONDS, MAX_OUTPUT
from fluxnotify.metrics import Metrics, NullMetrics
from fluxnotify.model.event import Event
from fluxnotify.model.manifests import Alert, Provider
from fluxnotify.providers import capabilities

logger = logging.getLogger(__name__)


@lru_cache(maxsize=1)
def _environment():
    from jinja2 import StrictUndefined, nodes
    from jinja2.compiler import CodeGenerator
    from jinja2.runtime import LoopContext
    from jinja2.sandbox import ImmutableSandboxedEnvironment, SandboxedFormatter

    class BoundedFormatter(SandboxedFormatter):
        def format_field(self, value: Any, format_spec: str) -> Any:
            limits.tick()
            widths = sum(int(number) for number in re.findall(r"\d+", format_spec))
            limits.refuse_over(widths + limits.text_size(value), "a formatted field")
            return limits.built(super().format_field(value, format_spec))

    class BoundedCodeGenerator(CodeGenerator):
        """Counts every write (output and buffers) and bounds every `~`."""

        def _output_const_repr(self, group: Any) -> str:
            return f"environment.written({super()._output_const_repr(group)})"

        def _output_child_pre(self, node: Any, frame: Any, finalize: Any) -> None:
            self.write("environment.written(")
            super()._output_child_pre(node, frame, finalize)

        def _output_child_post(self, node: Any, frame: Any, finalize: Any) -> None:
            super()._output_child_post(node, frame, finalize)
            self.write(")")

        def visit_Concat(self, node: Any, frame: Any) -> None:
            self.write("environment.bounded_concat((")
            for arg in node.nodes:
                self.visit(arg, frame)
                self.write(", ")
            self.write("))")

    class BoundedEnvironment(ImmutableSandboxedEnvironment):
        code_generator_class = BoundedCodeGenerator
        intercepted_binops = frozenset({"*", "**", "+", "-", "/", "//", "%"})
        written = staticmethod(limits.written)

        def __init__(self, **options: Any) -> None:
            super().__init__(finalize=limits.stringable, **options)
            self.globals["lipsum"] = limits.bounded_lipsum
            self.filters = {name: limits.bounded_filter(name, f) for name, f in self.filters.items()}
            # jinja2's TESTS table is inferred as dict[str, function], which ticking() rejects
            self.tests = {name: limits.ticking(f) for name, f in self.tests.items()}  # type: ignore[arg-type]

        @staticmethod
        def bounded_concat(values: tuple) -> str:
            limits.refuse_over(sum(limits.text_size(value) for value in values), "'~'")
            return limits.built("".join(map(str, values)))

        def _parse(self, source: str, name: Any, filename: Any) -> Any:
            """Every `for` iterates through bounded_iter."""
            tree = super()._parse(source, name, filename)
            for loop in tree.find_all(nodes.For):
                loop.iter = nodes.Call(nodes.EnvironmentAttribute("bounded_iter"), [loop.iter],
                                       [], None, None, lineno=loop.lineno)
            return tree

        bounded_iter = staticmethod(limits.bounded_iter)

        def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
            limits.tick()
            limits.check_binop(operator, left, right)
            return limits.built(super().call_binop(context, operator, left, right))

        def getattr(self, obj: Any, attribute: str) -> Any:
            limits.tick()
            return super().getattr(obj, attribute)

        def getitem(self, obj: Any, argument: Any) -> Any:
            limits.tick()
            return super().getitem(obj, argument)

        def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
            limits.tick()
            if isinstance(__obj, LoopContext) and args:  # a recursive loop's next level
                args = (limits.bounded_iter(args[0]), *args[1:])
            owner = getattr(__obj, "__self__", None)
            if owner is not None and isinstance(owner, (str, bytes, int)):
                limits.check_method(owner, getattr(__obj, "__name__", ""), args, kwargs)
            return limits.built(super().call(__context, __obj, *args, **kwargs))

        def wrap_str_format(self, value: Any) -> Any:
            wrapped = super().wrap_str_format(value)
            if wrapped is None:
                return None
            owner, is_map = value.__self__, value.__name__ == "format_map"

            @wraps(value)
            def bounded(*args: Any, **kwargs: Any) -> str:
                limits.refuse_over(len(owner), "a format string")
                fields = args[0] if is_map and args else kwargs
                return type(owner)(BoundedFormatter(self).vformat(owner, () if is_map else args, fields))

            return bounded

    return BoundedEnvironment(autoescape=False, undefined=StrictUndefined, keep_trailing_newline=False)


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
    """Deep copies: a template can never reach the running configuration or the event.

    Event API v1 fields are always there (``""``/None when the event has none), under Go's
    names and ``event.related_object``, so a template can test them without failing."""
    data = event.to_dict()
    data.setdefault("action", "")
    data["related_object"] = data.setdefault("relatedObject", None)
    return copy.deepcopy({
        "event": data,
        "alert": alert.as_dict(),
        "provider": provider.as_dict(),
        "cluster": cluster,
    })


def render(source: str, values: dict[str, Any], seconds: float = BUDGET_SECONDS) -> str:
    """The rendered message, cut at MAX_OUTPUT; raise TemplateError (or Jinja2's errors).

    Rendered on a Budget of `seconds`, steps and sizes, enforced while it runs."""
    template = _compile(source)
    token = limits.BUDGET.set(limits.Budget(seconds))
    chunks = template.generate(**values)
    try:
        text, size = [], 0
        for chunk in chunks:
            text.append(chunk)
            size += len(chunk)
            if size >= MAX_OUTPUT:
                break
        return "".join(text)[:MAX_OUTPUT]
    finally:
        chunks.close()
        limits.BUDGET.reset(token)


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

    started = time.monotonic()
    try:
        message = render(source, context(event, alert, provider, cluster))
    except Exception as err:  # a template must never lose a notification
        logger.warning(
            "message template failed; sending the original message",
            extra={"alert": alert.metadata.key, "provider": provider.metadata.key,
                   "error": f"{type(err).__name__}: {err}"[:500],
                   "elapsed_ms": round((time.monotonic() - started) * 1000, 1)},
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
        event, alert, provider = item.event, item.alert, item.provider
        commit_status = capabilities(provider.spec.type).commit_status
        if commit_status:
            from fluxnotify.providers.git.gitstatus import TEMPLATED_DESCRIPTION

            if TEMPLATED_DESCRIPTION in event.metadata:
                event = event.with_metadata({k: v for k, v in event.metadata.items() if k != TEMPLATED_DESCRIPTION})
        if alert is None or item.ext.template is None or ctx.digest:
            return item if event is item.event else item.but(event=event)
        from dataclasses import replace

        from fluxnotify.providers.git.gitstatus import MAX_TEMPLATED_DESCRIPTION, TEMPLATED_DESCRIPTION

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
