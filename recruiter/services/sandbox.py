"""The letter sandbox: Jinja's immutable sandbox with limits enforced before the work is done.

Checking time and size between operations cannot stop one long operation (``9**64**64``,
``s ~ s`` on a long string, ``'x' * 10**9``). So every operation that can grow a value is
intercepted and refused when its *result* would pass the output cap, huge integers are bounded
by bit length, and every ``for`` loop (recursive ones too) draws on an iteration budget.

This module is the one place that knows Jinja's code generator: ``~`` and ``for`` have no
documented sandbox hook, so ``LimitedCodeGenerator`` rewrites them, before compiling, as calls
to the environment (``nodes.EnvironmentAttribute``, the hook Jinja documents for extensions).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from typing import Any

from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.runtime import LoopContext
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError
from jinja2.visitor import NodeTransformer

from ..errors import TemplateError

MAX_OUTPUT = 100_000  # characters per letter, and per value a template builds
MAX_SECONDS = 2.0
MAX_RANGE = 1_000
MAX_ITERATIONS = 100_000  # loop iterations per letter (subject and body together)
MAX_INT_BITS = 4_096  # about 1,200 digits: far more than a letter counts
MAX_EXPONENT = 64

_budget: ContextVar[Budget | None] = ContextVar("letter_budget", default=None)


class Budget:
    """Deadline, size limit and loop iterations shared by one render."""

    def __init__(self, max_output: int = MAX_OUTPUT, max_seconds: float = MAX_SECONDS,
                 max_iterations: int = MAX_ITERATIONS) -> None:
        self.max_output = max_output
        self.deadline = time.monotonic() + max_seconds
        self.iterations_left = max_iterations
        self.max_iterations = max_iterations

    def tick(self) -> None:
        """Refuse once the render's time is up."""
        if time.monotonic() > self.deadline:
            raise TemplateError("The template took too long to render and was stopped.")

    def size(self, n: int) -> None:
        """Refuse a letter or value of ``n`` characters when that is over the cap."""
        if n > self.max_output:
            raise TemplateError(
                f"The letter would be longer than {self.max_output:,} characters; "
                "the template was refused."
            )

    def iterate(self, iterable: Iterable[Any]) -> Iterator[Any]:
        """``iterable``, counting each item against the loop budget."""
        for item in iterable:
            self.iterations_left -= 1
            if self.iterations_left < 0:
                raise TemplateError(
                    "The template takes too long to render: its loops ran more than "
                    f"{self.max_iterations:,} times.")
            if self.iterations_left % 1000 == 0:
                self.tick()
            yield item

    def __enter__(self) -> Budget:
        self._token = _budget.set(self)
        return self

    def __exit__(self, *exc: object) -> None:
        _budget.reset(self._token)


def _cap() -> int:
    budget = _budget.get()
    return budget.max_output if budget is not None else MAX_OUTPUT


def weight(value: Any, limit: int) -> int:
    """Roughly how many characters ``value`` prints as; stops counting past ``limit``."""
    if isinstance(value, str | bytes):
        return len(value)
    if isinstance(value, bool) or value is None:
        return 5
    if isinstance(value, int):
        return value.bit_length() // 3 + 1
    if isinstance(value, float):
        return 24
    if isinstance(value, dict):
        value = [item for pair in value.items() for item in pair]
    if isinstance(value, list | tuple | set | frozenset):
        total = len(value)
        for item in value:
            if total > limit:
                break
            total += weight(item, limit - total)
        return total
    return 16  # undefined and empty fields, loop objects: short


def _refuse_size(n: int) -> None:
    budget = _budget.get()
    if budget is not None:
        budget.size(n)
    elif n > MAX_OUTPUT:
        raise SecurityError("the result would be too long")


def _check_size(*values: Any, extra: int = 0) -> None:
    cap = _cap()
    total = extra
    for value in values:
        total += weight(value, cap - total)
        if total > cap:
            break
    _refuse_size(total)


_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?")
_DIGITS = re.compile(r"\d+")
_FORMAT_FIELD = re.compile(r"\{[^{}]*\}")
_SAFE_STR_METHODS = frozenset("""capitalize casefold count encode endswith find index
    isalnum isalpha isascii isdecimal isdigit isidentifier islower isnumeric isprintable
    isspace istitle isupper lower lstrip partition removeprefix removesuffix rfind rindex
    rpartition rsplit rstrip split splitlines startswith strip swapcase title upper""".split())


def _check_percent(fmt: str, args: Any) -> None:
    """``fmt % args``: refuse when widths or the values used would make too long a string."""
    specs = _PERCENT_SPEC.findall(fmt)
    if any("*" in spec for spec in specs):
        raise SecurityError("'*' widths are not allowed in letters")
    widths = sum(int(n) for spec in specs for n in spec if n)
    values = list(args.values()) if isinstance(args, dict) else (
        list(args) if isinstance(args, tuple) else [args])
    largest = max((weight(v, _cap() + 1) for v in values), default=0)
    _refuse_size(len(fmt) + widths + len(specs) * largest)


def _check_str_method(method: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Refuse a string method whose result would be too long (or that cannot be bounded)."""
    text, name = method.__self__, method.__name__
    if name in _SAFE_STR_METHODS:
        return
    if name in ("center", "ljust", "rjust", "zfill"):
        width = args[0] if args else kwargs.get("width", 0)
        _refuse_size(width if isinstance(width, int) else 0)
    elif name == "expandtabs":
        size = args[0] if args else kwargs.get("tabsize", 8)
        _refuse_size(len(text) + text.count("\t") * max(size, 0))
    elif name == "replace" and len(args) >= 2 and isinstance(args[1], str):
        old, new = args[0], args[1]
        hits = text.count(old) if old else len(text) + 1
        _refuse_size(len(text) + hits * len(new))
    elif name == "join" and args:
        items = list(args[0]) if not isinstance(args[0], str | list | tuple) else args[0]
        _check_size(items, extra=len(text) * len(items))
    elif name in ("format", "format_map"):
        _check_format(text, args, kwargs)
    else:
        raise SecurityError(f"the string method {name!r} is not available in letters")


def _call(method: str, *args: nodes.Expr, lineno: int) -> nodes.Call:
    return nodes.Call(nodes.EnvironmentAttribute(method), list(args), [], None, None,
                      lineno=lineno)


def _check_format(text: str, args: Any, kwargs: Any) -> None:
    """``text.format(...)``: refuse when widths or the values used would make too long a text."""
    if re.search(r"\{[^{}]*\{", text):
        raise SecurityError("nested format fields are not allowed in letters")
    values = [*args, *kwargs.values()]
    if len(args) == 1 and isinstance(args[0], dict) and not kwargs:  # format_map
        values = [*values, *args[0].values()]
    largest = max((weight(v, _cap() + 1) for v in values), default=0)
    fields = _FORMAT_FIELD.findall(text)  # widths live inside the braces: {:>20}
    widths = sum(int(n) for field in fields for n in _DIGITS.findall(field))
    _refuse_size(len(text) + widths + len(fields) * largest)


class _RouteThroughLimits(NodeTransformer):
    """Rewrites ``a ~ b`` and every loop's iterable as calls to the sandbox's checks."""

    def visit_Concat(self, node: nodes.Concat) -> nodes.Call:  # noqa: D102, N802
        self.generic_visit(node)
        return _call("checked_concat", nodes.Tuple(node.nodes, "load"), lineno=node.lineno)

    def visit_For(self, node: nodes.For) -> nodes.For:  # noqa: D102, N802
        self.generic_visit(node)
        node.iter = _call("budgeted", node.iter, lineno=node.iter.lineno)
        return node


class LimitedCodeGenerator(CodeGenerator):
    """Compiles ``~`` and every ``for`` loop's iterable through the sandbox's limits."""

    def visit_Template(self, node: nodes.Template, frame: Frame | None = None) -> None:  # noqa: D102, N802
        _RouteThroughLimits().visit(node)
        super().visit_Template(node, frame)


class LimitedSandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox, refusing operations whose result would pass the limits."""

    code_generator_class = LimitedCodeGenerator
    intercepted_binops = frozenset(["*", "**", "+", "%"])

    def call_binop(self, context, operator, left, right):  # noqa: ANN001, D102
        self.tick()
        if operator == "**" and isinstance(left, int | float) and isinstance(right, int | float):
            if abs(right) > MAX_EXPONENT:
                raise SecurityError("exponent too large")
            if isinstance(left, int) and isinstance(right, int) \
                    and right * max(abs(left).bit_length() - 1, 0) > MAX_INT_BITS:
                raise SecurityError("the number would be too large")
        elif operator == "*":
            if isinstance(left, int) and isinstance(right, int):
                if left.bit_length() + right.bit_length() > MAX_INT_BITS:
                    raise SecurityError("the number would be too large")
            for seq, times in ((left, right), (right, left)):
                if isinstance(seq, str | list | tuple) and isinstance(times, int):
                    _refuse_size(weight(seq, _cap() + 1) * max(times, 0))
        elif operator == "+" and not (isinstance(left, int | float)
                                      and isinstance(right, int | float)):
            _check_size(left, right)
        elif operator == "%" and isinstance(left, str):
            _check_percent(left, right)
        return super().call_binop(context, operator, left, right)

    def call(self, __context, __obj, *args, **kwargs):  # noqa: ANN001, D102
        self.tick()
        if isinstance(__obj, LoopContext) and args:  # a recursive loop's next level
            args = (self.budgeted(args[0]), *args[1:])
        elif isinstance(getattr(__obj, "__self__", None), str) and callable(__obj):
            _check_str_method(__obj, args, kwargs)
        return super().call(__context, __obj, *args, **kwargs)

    def wrap_str_format(self, value: Any) -> Any:  # noqa: D102
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        text = value.__self__

        def checked(*args: Any, **kwargs: Any) -> str:  # str.format and format_map
            _check_format(text, args, kwargs)
            return wrapped(*args, **kwargs)
        return checked

    def getattr(self, obj, attribute):  # noqa: ANN001, D102
        self.tick()
        return super().getattr(obj, attribute)

    def checked_concat(self, values: tuple[Any, ...]) -> str:
        """``a ~ b``, refused before joining when the text would pass the cap."""
        _check_size(*values)
        return "".join(map(str, values))

    @staticmethod
    def budgeted(iterable: Any) -> Any:
        """A loop's iterable, counted against the running render's loop budget."""
        budget = _budget.get()
        return iterable if budget is None else budget.iterate(iterable)

    @staticmethod
    def tick() -> None:
        """Refuse once the running render's time is up."""
        budget = _budget.get()
        if budget is not None:
            budget.tick()


def safe_range(*args: int) -> range:
    """``range``, limited to a letter's worth of items."""
    r = range(*args)
    if len(r) > MAX_RANGE:
        raise SecurityError(f"range is limited to {MAX_RANGE} items in letters")
    return r


def capped_replace(value: str, old: str, new: str, count: int | None = None) -> str:
    """The ``replace`` filter, refusing to produce more than a letter's worth of text."""
    if not old:
        raise SecurityError("replace needs a non-empty search text")
    if len(new) > len(old) and value.count(old) * (len(new) - len(old)) > _cap():
        raise SecurityError("replace would produce too much text")
    return value.replace(old, new) if count is None else value.replace(old, new, count)


def limited_join(join: Any) -> Any:
    """Wrap Jinja's ``join`` filter so its result is weighed before it is built."""
    def checked(eval_ctx, value, d="", attribute=None):  # noqa: ANN001, ANN202
        items = list(value) if not isinstance(value, list | tuple) else value
        _check_size(items, extra=len(str(d)) * len(items))
        return join(eval_ctx, items, d, attribute)
    checked.jinja_pass_arg = join.jinja_pass_arg  # type: ignore[attr-defined]
    return checked


def check_output(value: Any) -> None:
    """Refuse a ``{{ value }}`` that would print as more than the cap, before printing it."""
    if isinstance(value, list | tuple | dict | set | frozenset):
        _check_size(value)
