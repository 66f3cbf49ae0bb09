"""The bounds of a message-template render (delivery/templates.py, docs/extensions.md).

A render runs on a Budget found in a context variable, checked while it runs (no thread, no
signal): every loop iteration, call, attribute, operator, filter, test and write is a step
that checks the step count and the deadline; what one operation would build (``*``, ``**``,
``+``, ``~``, ``%``, format widths, padding, ``replace``, ``join``, ``indent``, ``lipsum``, the
text of a nested list, ...) is refused before it is built when it is too large.
"""

from __future__ import annotations

import re
import time
from collections import abc, deque
from collections.abc import Callable
from contextvars import ContextVar
from functools import wraps
from typing import Any

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
    """One render's allowance; the running render finds it in BUDGET."""

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


BUDGET: ContextVar[Budget | None] = ContextVar("fluxnotify_template_budget", default=None)


def tick() -> None:
    budget = BUDGET.get()
    if budget is not None:
        budget.tick()


def built(value: Any) -> Any:
    """Count what an operation made; refuse a value larger than MAX_SEQUENCE."""
    if isinstance(value, (str, bytes, list, tuple)):
        refuse_over(len(value), "a value")
        budget = BUDGET.get()
        if budget is not None:
            budget.add(len(value), "built", MAX_BUILT)
    else:
        tick()
    return value


def written(text: str) -> str:
    budget = BUDGET.get()
    if budget is not None:
        budget.add(len(text), "written", MAX_WRITTEN)
    return text


def refuse_over(size: int, what: str, limit: int = MAX_SEQUENCE) -> None:
    if size > limit:
        raise TemplateError(f"{what} would be longer than {limit}")


def text_size(value: Any, limit: int = MAX_SEQUENCE) -> int:
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
        elif isinstance(item, (list, tuple, set, frozenset, deque, abc.KeysView, abc.ValuesView, abc.ItemsView)):
            size += 2 * len(item) + 2
            if size <= limit:
                stack.extend(item)
        else:
            size += 32
    return size


def stringable(value: Any) -> Any:
    refuse_over(text_size(value), "the text of a value")
    return value


_PRINTF = re.compile(r"%[#0\- +]*(\*|\d*)(?:\.(\*|\d*))?")


def _check_printf(fmt: str | bytes, args: Any) -> None:
    text = fmt.decode("latin-1") if isinstance(fmt, bytes) else fmt
    widths = 0
    for width, precision in _PRINTF.findall(text):
        if "*" in (width, precision):
            raise TemplateError("'*' widths are not allowed in templates")
        widths += int(width or 0) + int(precision or 0)
    refuse_over(len(text) + widths + text_size(args), "a formatted string")


def _check_int(operator: str, left: int, right: int) -> None:
    bits = (left.bit_length(), right.bit_length())
    if max(bits) > MAX_INT_BITS or (operator == "*" and sum(bits) > MAX_INT_BITS):
        raise TemplateError(f"'{operator}' would work on an int larger than {MAX_INT_BITS} bits")
    if operator == "**" and bits[0] * abs(right) > MAX_INT_BITS:
        raise TemplateError(f"'**' would make an int larger than {MAX_INT_BITS} bits")


def check_binop(operator: str, left: Any, right: Any) -> None:
    if operator == "%" and isinstance(left, (str, bytes)):
        _check_printf(left, right)
    if operator == "**" and isinstance(right, (int, float)) and abs(right) > MAX_EXPONENT:
        raise TemplateError(f"exponent {right} is larger than {MAX_EXPONENT}")
    if isinstance(left, int) and isinstance(right, int):
        _check_int(operator, left, right)
    elif operator == "*":
        for seq, times in ((left, right), (right, left)):
            if isinstance(seq, (str, bytes, list, tuple)) and isinstance(times, int):
                refuse_over(len(seq) * times, "'*'")
    elif operator == "+" and isinstance(left, (str, bytes, list, tuple)) and hasattr(right, "__len__"):
        refuse_over(len(left) + len(right), "'+'")


def check_method(owner: Any, name: str, args: tuple, kwargs: dict) -> None:
    """Refuse a str/bytes/int method call whose result would be too large to build."""
    arg = args[0] if args else next(iter(kwargs.values()), None)
    if isinstance(owner, (str, bytes)):
        if name in ("center", "ljust", "rjust", "zfill") and isinstance(arg, int):
            refuse_over(arg, f"{name}()")
        elif name == "expandtabs":
            tabs = owner.count("\t") if isinstance(owner, str) else owner.count(b"\t")
            refuse_over(len(owner) + tabs * (arg if isinstance(arg, int) else 8), "expandtabs()")
        elif name == "replace" and len(args) >= 2:
            old, new = args[0], args[1]
            hits = owner.count(old) if old else len(owner) + 1
            refuse_over(len(owner) + hits * max(0, len(new) - len(old)), "replace()")
        elif name == "join" and args:
            refuse_over(_joined_size(owner, args[0]), "join()")
        elif name == "translate":
            raise TemplateError("translate() is not allowed in templates")
    elif isinstance(owner, int) and name == "to_bytes" and isinstance(arg, int):
        refuse_over(arg, "to_bytes()")


def _joined_size(separator: Any, items: Any) -> int:
    if not isinstance(items, abc.Sized) or not isinstance(items, abc.Iterable):
        return 0  # a generator: its items are counted as they come
    return len(str(separator)) * len(items) + text_size(list(items))


def bounded_iter(iterable: Any) -> Any:
    """Every loop iteration is a step."""
    for item in iterable:
        tick()
        yield item


def ticking(func: Callable) -> Callable:
    @wraps(func)
    def ticking(*args: Any, **kwargs: Any) -> Any:
        tick()
        return func(*args, **kwargs)

    return ticking


def bounded_filter(name: str, func: Callable) -> Callable:
    """A filter that checks its arguments first and counts what it makes."""
    offset = 1 if getattr(func, "jinja_pass_arg", None) is not None else 0

    @wraps(func)
    def bounded(*args: Any, **kwargs: Any) -> Any:
        tick()
        value, rest = (args[offset], args[offset + 1:]) if len(args) > offset else (None, ())
        check = _FILTER_CHECKS.get(name)
        if check is not None:
            check(value, *rest, **kwargs)
        elif name in _STRINGIFYING:
            stringable(value)
        return built(func(*args, **kwargs))

    return bounded


def _check_width(value: Any, width: Any = 80, *args: Any, **kwargs: Any) -> None:
    stringable(value)
    if isinstance(width, int):
        refuse_over(width, "a width")


def _check_indent(value: Any, width: Any = 4, *args: Any, **kwargs: Any) -> None:
    prefix = width if isinstance(width, str) else " " * min(int(width), MAX_SEQUENCE + 1)
    text = str(stringable(value))
    refuse_over(len(text) + len(prefix) * (text.count("\n") + 1), "indent()")


def _check_replace(value: Any, old: Any = "", new: Any = "", count: Any = None, **kwargs: Any) -> None:
    text = str(stringable(value))
    check_method(text, "replace", (str(old), str(new)), {})


def _check_join(value: Any, d: Any = "", attribute: Any = None, **kwargs: Any) -> None:
    refuse_over(_joined_size(d, value), "join")


def _check_format(value: Any, *args: Any, **kwargs: Any) -> None:
    _check_printf(str(value), (args, kwargs))


def _check_count(value: Any, count: Any = 1, *args: Any, **kwargs: Any) -> None:
    if isinstance(count, int):
        refuse_over(count, "a count")


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


def bounded_lipsum(n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> Any:
    from jinja2.utils import generate_lorem_ipsum

    refuse_over(int(n) * int(max), "lipsum()", MAX_LIPSUM_WORDS)
    return built(generate_lorem_ipsum(n, html, min, max))


