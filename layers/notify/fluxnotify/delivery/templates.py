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

A render runs on a budget, checked while it runs (no thread, no signal): every loop
iteration, call, attribute, operator and write is a step that checks the step count and the
deadline; what a single operation could make (``*``, ``**``, ``+``, ``~``, ``%``, format
widths, padding, ``replace``, ``join``, ``indent``, ``lipsum``, ...) is refused before it is
built when too large; the output stops at MAX_OUTPUT. A failed or over-budget render never
loses a notification: the original message is used, with a warning log and a metric.
Jinja2 is imported only when an Alert has a template.
"""

from __future__ import annotations

import copy
import logging
import re
import time
from collections import abc, deque
from collections.abc import Callable
from contextvars import ContextVar
from functools import lru_cache, wraps
from typing import Any

from fluxnotify.metrics import Metrics, NullMetrics
from fluxnotify.model.event import Event
from fluxnotify.model.manifests import Alert, Provider

logger = logging.getLogger(__name__)

MAX_OUTPUT = 65_536  # characters of the result; providers cut further to their own budgets
MAX_SEQUENCE = 262_144  # longest string/list (or its text) one template operation may build
MAX_EXPONENT = 64
MAX_INT_BITS = 4_096  # largest int an arithmetic operation may take or make
MAX_STEPS = 100_000  # loop iterations, calls, attribute look-ups, operators, writes
MAX_WRITTEN = 1_048_576  # characters written anywhere: output, {% set %} blocks, macros
MAX_BUILT = 4_194_304  # characters/items made by all operations of one render together
BUDGET_SECONDS = 0.05  # wall-clock time of one render
MAX_LIPSUM_WORDS = 10_000


class TemplateError(ValueError):
    pass


class TemplateBudgetExceeded(TemplateError):
    pass


class Budget:
    """One render's allowance; the running render finds it in _BUDGET."""

    def __init__(self, seconds: float = BUDGET_SECONDS) -> None:
        self.deadline = time.monotonic() + seconds
        self.seconds = seconds
        self.steps = self.written = self.built = 0

    def tick(self) -> None:
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise TemplateBudgetExceeded(f"template took more than {MAX_STEPS} steps")
        if time.monotonic() > self.deadline:
            raise TemplateBudgetExceeded(f"template took longer than {self.seconds * 1000:.0f} ms")

    def add(self, size: int, what: str, limit: int) -> None:
        total = getattr(self, what) + size
        setattr(self, what, total)
        if total > limit:
            raise TemplateBudgetExceeded(f"template {what} more than {limit} characters")
        self.tick()


_BUDGET: ContextVar[Budget | None] = ContextVar("fluxnotify_template_budget", default=None)


def _tick() -> None:
    budget = _BUDGET.get()
    if budget is not None:
        budget.tick()


def _built(value: Any) -> Any:
    """Count what an operation made; refuse a value larger than MAX_SEQUENCE."""
    if isinstance(value, (str, bytes, list, tuple)):
        _refuse_over(len(value), "a value")
        budget = _BUDGET.get()
        if budget is not None:
            budget.add(len(value), "built", MAX_BUILT)
    else:
        _tick()
    return value


def _written(text: str) -> str:
    budget = _BUDGET.get()
    if budget is not None:
        budget.add(len(text), "written", MAX_WRITTEN)
    return text


def _refuse_over(size: int, what: str, limit: int = MAX_SEQUENCE) -> None:
    if size > limit:
        raise TemplateError(f"{what} would be longer than {limit}")


def _text_size(value: Any, limit: int = MAX_SEQUENCE) -> int:
    """About len(str(value)); walks containers only until the size passes `limit`."""
    from jinja2.utils import Namespace

    size, stack = 0, [value]
    while stack and size <= limit:
        item = stack.pop()
        if isinstance(item, (str, bytes)):
            size += len(item) + 2
        elif isinstance(item, int):
            size += item.bit_length() // 3 + 2
        elif isinstance(item, Namespace):
            stack.append(item._Namespace__attrs)  # type: ignore[attr-defined]
        elif isinstance(item, abc.Mapping):
            size += 4 * len(item) + 2  # counted before it is walked: the walk stays short
            if size <= limit:
                stack.extend(item.keys())
                stack.extend(item.values())
        elif isinstance(item, (list, tuple, set, frozenset, deque, abc.MappingView)):
            size += 2 * len(item) + 2
            if size <= limit:
                stack.extend(item)
        else:
            size += 32
    return size


def _stringable(value: Any) -> Any:
    _refuse_over(_text_size(value), "the text of a value")
    return value


_PRINTF = re.compile(r"%[#0\- +]*(\*|\d*)(?:\.(\*|\d*))?")


def _check_printf(fmt: str | bytes, args: Any) -> None:
    text = fmt.decode("latin-1") if isinstance(fmt, bytes) else fmt
    widths = 0
    for width, precision in _PRINTF.findall(text):
        if "*" in (width, precision):
            raise TemplateError("'*' widths are not allowed in templates")
        widths += int(width or 0) + int(precision or 0)
    _refuse_over(len(text) + widths + _text_size(args), "a formatted string")


def _check_int(operator: str, left: int, right: int) -> None:
    bits = (left.bit_length(), right.bit_length())
    if max(bits) > MAX_INT_BITS or (operator == "*" and sum(bits) > MAX_INT_BITS):
        raise TemplateError(f"'{operator}' would work on an int larger than {MAX_INT_BITS} bits")
    if operator == "**" and bits[0] * abs(right) > MAX_INT_BITS:
        raise TemplateError(f"'**' would make an int larger than {MAX_INT_BITS} bits")


def _check_binop(operator: str, left: Any, right: Any) -> None:
    if operator == "%" and isinstance(left, (str, bytes)):
        _check_printf(left, right)
    if operator == "**" and isinstance(right, (int, float)) and abs(right) > MAX_EXPONENT:
        raise TemplateError(f"exponent {right} is larger than {MAX_EXPONENT}")
    if isinstance(left, int) and isinstance(right, int):
        _check_int(operator, left, right)
    elif operator == "*":
        for seq, times in ((left, right), (right, left)):
            if isinstance(seq, (str, bytes, list, tuple)) and isinstance(times, int):
                _refuse_over(len(seq) * times, "'*'")
    elif operator == "+" and isinstance(left, (str, bytes, list, tuple)) and hasattr(right, "__len__"):
        _refuse_over(len(left) + len(right), "'+'")


def _check_method(owner: Any, name: str, args: tuple, kwargs: dict) -> None:
    """Refuse a str/bytes/int method call whose result would be too large to build."""
    arg = args[0] if args else next(iter(kwargs.values()), None)
    if isinstance(owner, (str, bytes)):
        if name in ("center", "ljust", "rjust", "zfill") and isinstance(arg, int):
            _refuse_over(arg, f"{name}()")
        elif name == "expandtabs":
            tabs = owner.count("\t" if isinstance(owner, str) else b"\t")
            _refuse_over(len(owner) + tabs * (arg if isinstance(arg, int) else 8), "expandtabs()")
        elif name == "replace" and len(args) >= 2:
            old, new = args[0], args[1]
            hits = owner.count(old) if old else len(owner) + 1
            _refuse_over(len(owner) + hits * max(0, len(new) - len(old)), "replace()")
        elif name == "join" and args:
            _refuse_over(_joined_size(owner, args[0]), "join()")
        elif name == "translate":
            raise TemplateError("translate() is not allowed in templates")
    elif isinstance(owner, int) and name == "to_bytes" and isinstance(arg, int):
        _refuse_over(arg, "to_bytes()")


def _joined_size(separator: Any, items: Any) -> int:
    if not isinstance(items, abc.Sized):
        return 0  # a generator: its items are counted as they come
    return len(str(separator)) * len(items) + _text_size(list(items))


def _bounded_iter(iterable: Any) -> Any:
    """Every loop iteration is a step."""
    for item in iterable:
        _tick()
        yield item


def _ticking(func: Callable) -> Callable:
    @wraps(func)
    def ticking(*args: Any, **kwargs: Any) -> Any:
        _tick()
        return func(*args, **kwargs)

    return ticking


def _bounded_filter(name: str, func: Callable) -> Callable:
    """A filter that checks its arguments first and counts what it makes."""
    offset = 1 if getattr(func, "jinja_pass_arg", None) is not None else 0

    @wraps(func)
    def bounded(*args: Any, **kwargs: Any) -> Any:
        _tick()
        value, rest = (args[offset], args[offset + 1:]) if len(args) > offset else (None, ())
        check = _FILTER_CHECKS.get(name)
        if check is not None:
            check(value, *rest, **kwargs)
        elif name in _STRINGIFYING:
            _stringable(value)
        return _built(func(*args, **kwargs))

    return bounded


def _check_width(value: Any, width: Any = 80, *args: Any, **kwargs: Any) -> None:
    _stringable(value)
    if isinstance(width, int):
        _refuse_over(width, "a width")


def _check_indent(value: Any, width: Any = 4, *args: Any, **kwargs: Any) -> None:
    prefix = width if isinstance(width, str) else " " * min(int(width), MAX_SEQUENCE + 1)
    text = str(_stringable(value))
    _refuse_over(len(text) + len(prefix) * (text.count("\n") + 1), "indent()")


def _check_replace(value: Any, old: Any = "", new: Any = "", count: Any = None, **kwargs: Any) -> None:
    text = str(_stringable(value))
    _check_method(text, "replace", (str(old), str(new)), {})


def _check_join(value: Any, d: Any = "", attribute: Any = None, **kwargs: Any) -> None:
    _refuse_over(_joined_size(d, value), "join")


def _check_format(value: Any, *args: Any, **kwargs: Any) -> None:
    _check_printf(str(value), (args, kwargs))


def _check_count(value: Any, count: Any = 1, *args: Any, **kwargs: Any) -> None:
    if isinstance(count, int):
        _refuse_over(count, "a count")


def _check_sum(value: Any, attribute: Any = None, start: Any = 0, **kwargs: Any) -> None:
    if not isinstance(kwargs.get("start", start), (int, float)):
        raise TemplateError("sum() starts from a number in templates")


_FILTER_CHECKS: dict[str, Callable] = {
    "center": _check_width, "wordwrap": _check_width, "truncate": _check_width,
    "indent": _check_indent, "replace": _check_replace, "join": _check_join,
    "format": _check_format, "batch": _check_count, "slice": _check_count, "sum": _check_sum,
}
_STRINGIFYING = frozenset({
    "capitalize", "e", "escape", "forceescape", "lower", "pprint", "safe", "string", "striptags",
    "title", "tojson", "trim", "upper", "urlencode", "urlize", "wordcount", "xmlattr",
})


def _bounded_lipsum(n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> Any:
    from jinja2.utils import generate_lorem_ipsum

    _refuse_over(int(n) * int(max), "lipsum()", MAX_LIPSUM_WORDS)
    return _built(generate_lorem_ipsum(n, html, min, max))


@lru_cache(maxsize=1)
def _environment():
    from jinja2 import StrictUndefined, nodes
    from jinja2.compiler import CodeGenerator
    from jinja2.runtime import LoopContext
    from jinja2.sandbox import ImmutableSandboxedEnvironment, SandboxedFormatter

    class BoundedFormatter(SandboxedFormatter):
        def format_field(self, value: Any, format_spec: str) -> Any:
            _tick()
            widths = sum(int(number) for number in re.findall(r"\d+", format_spec))
            _refuse_over(widths + _text_size(value), "a formatted field")
            return _built(super().format_field(value, format_spec))

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
        written = staticmethod(_written)

        def __init__(self, **options: Any) -> None:
            super().__init__(finalize=_stringable, **options)
            self.globals["lipsum"] = _bounded_lipsum
            self.filters = {name: _bounded_filter(name, f) for name, f in self.filters.items()}
            self.tests = {name: _ticking(f) for name, f in self.tests.items()}

        @staticmethod
        def bounded_concat(values: tuple) -> str:
            _refuse_over(sum(_text_size(value) for value in values), "'~'")
            return _built("".join(map(str, values)))

        def _parse(self, source: str, name: Any, filename: Any) -> Any:
            """Every `for` iterates through _bounded_iter."""
            tree = super()._parse(source, name, filename)
            for loop in tree.find_all(nodes.For):
                loop.iter = nodes.Call(nodes.EnvironmentAttribute("bounded_iter"), [loop.iter],
                                       [], None, None, lineno=loop.lineno)
            return tree

        bounded_iter = staticmethod(_bounded_iter)

        def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
            _tick()
            _check_binop(operator, left, right)
            return _built(super().call_binop(context, operator, left, right))

        def getattr(self, obj: Any, attribute: str) -> Any:
            _tick()
            return super().getattr(obj, attribute)

        def getitem(self, obj: Any, argument: Any) -> Any:
            _tick()
            return super().getitem(obj, argument)

        def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
            _tick()
            if isinstance(__obj, LoopContext) and args:  # a recursive loop's next level
                args = (_bounded_iter(args[0]), *args[1:])
            owner = getattr(__obj, "__self__", None)
            if owner is not None and isinstance(owner, (str, bytes, int)):
                _check_method(owner, getattr(__obj, "__name__", ""), args, kwargs)
            return _built(super().call(__context, __obj, *args, **kwargs))

        def wrap_str_format(self, value: Any) -> Any:
            wrapped = super().wrap_str_format(value)
            if wrapped is None:
                return None
            owner, is_map = value.__self__, value.__name__ == "format_map"

            @wraps(value)
            def bounded(*args: Any, **kwargs: Any) -> str:
                _refuse_over(len(owner), "a format string")
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
    """Deep copies: a template can never reach the running configuration or the event."""
    return copy.deepcopy({
        "event": event.to_dict(),
        "alert": alert.as_dict(),
        "provider": provider.as_dict(),
        "cluster": cluster,
    })


def render(source: str, values: dict[str, Any], seconds: float = BUDGET_SECONDS) -> str:
    """The rendered message, cut at MAX_OUTPUT; raise TemplateError (or Jinja2's errors).

    Rendered on a Budget of `seconds`, steps and sizes, enforced while it runs."""
    template = _compile(source)
    token = _BUDGET.set(Budget(seconds))
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
        _BUDGET.reset(token)


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
