"""Parse the run search filter language into a small typed syntax tree.

Grammar (keywords are case-insensitive; keys are not)::

    filter      := or_expr
    or_expr     := and_expr ("or" and_expr)*
    and_expr    := not_expr ("and" not_expr)*
    not_expr    := "not" not_expr | "(" or_expr ")" | comparison
    comparison  := name op value
                 | name ["not"] "in" "(" value ("," value)* ")"
                 | name ["not"] ("like" | "ilike") string
                 | name "is" ["not"] "null"
    name        := ("metrics" | "params" | "tags" | "meta" | "attributes" | "run") "." key
                 | attribute
    op          := "=" | "==" | "!=" | "<" | "<=" | ">" | ">="
    value       := number | string | "true" | "false"

A key is letters, digits and ``_ - / .``; any other key is quoted after the dot with backticks or
double quotes (metrics.`val loss`). Strings take single or double quotes and backslash escapes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, NamedTuple, TypeAlias

from labledger._foundation.errors import FilterSyntaxError

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = [
    "ATTRIBUTES",
    "NUMERIC_ATTRIBUTES",
    "And",
    "Comparison",
    "Node",
    "Not",
    "Operator",
    "Or",
    "Target",
    "Value",
    "comparison_problem",
    "parse_filter",
    "parse_order_item",
]

Target = Literal["metrics", "params", "tags", "meta", "attributes"]
Operator = Literal[
    "=", "!=", "<", "<=", ">", ">=", "in", "not in", "like", "not like", "ilike", "not ilike",
    "is null", "is not null",
]  # fmt: skip
Value: TypeAlias = int | float | str | bool

ATTRIBUTES = frozenset(
    {"id", "name", "status", "user", "host", "kind", "started_at", "ended_at", "git_commit",
     "project_id"}
)  # fmt: skip
NUMERIC_ATTRIBUTES = frozenset({"started_at", "ended_at"})

FILTER_HINT = (
    'write comparisons such as metrics.auc > 0.8 and params.model = "gbm", '
    "tags.team in ('assay', 'core'), params.optimizer like 'ad%', not tags.note is null"
)
ORDER_HINT = "write sort keys such as metrics.auc desc, params.lr, started_at asc"


@dataclass(frozen=True, slots=True)
class Comparison:
    """One condition on a run: ``target.key op value``.

    ``value`` is a tuple for ``in``/``not in`` and ``None`` for ``is null``/``is not null``.
    """

    target: Target
    key: str
    op: Operator
    value: Value | tuple[Value, ...] | None


@dataclass(frozen=True, slots=True)
class And:
    """All operands hold."""

    operands: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    """At least one operand holds."""

    operands: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Not:
    """The operand does not hold."""

    operand: Node


Node: TypeAlias = Comparison | And | Or | Not

_PREFIXES: dict[str, Target] = {
    "metrics": "metrics", "params": "params", "tags": "tags", "meta": "meta",
    "attributes": "attributes", "run": "attributes",
}  # fmt: skip
_OPERATORS: dict[str, Operator] = {
    "=": "=", "==": "=", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">=",
}  # fmt: skip
_LIKE_OPERATORS: dict[tuple[bool, str], Operator] = {
    (False, "like"): "like", (True, "like"): "not like",
    (False, "ilike"): "ilike", (True, "ilike"): "not ilike",
}  # fmt: skip
_KEYWORDS = frozenset({"and", "or", "not", "in", "like", "ilike", "is", "null", "true", "false"})
_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
    | (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
    | (?P<backtick>`[^`]*`)
    | (?P<number>[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)
    | (?P<name>[A-Za-z_][A-Za-z0-9_\-/.]*)
    | (?P<op><=|>=|==|!=|=|<|>)
    | (?P<punct>[(),])
    """,
    re.VERBOSE | re.DOTALL,
)
_MAX_DEPTH = 100  # keeps a hostile filter from exhausting the interpreter's recursion limit
_ESCAPES = {"\\": "\\", "'": "'", '"': '"', "n": "\n", "t": "\t", "r": "\r"}


class _Token(NamedTuple):
    kind: str  # string, backtick, number, name, op, punct or end
    text: str
    pos: int

    @property
    def word(self) -> str:
        return self.text.lower() if self.kind == "name" else ""

    def describe(self) -> str:
        return "the end of the text" if self.kind == "end" else f"'{self.text}'"


def _syntax_error(subject: str, pos: int, detail: str, hint: str) -> FilterSyntaxError:
    return FilterSyntaxError(f"Invalid {subject} at column {pos + 1}: {detail}", hint=hint)


def _tokenize(text: str, subject: str, hint: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            if text[pos] in "'\"":
                raise _syntax_error(
                    subject, pos, f"unterminated string; close it with {text[pos]}", hint
                )
            if text[pos] == "`":
                raise _syntax_error(subject, pos, "unterminated quoted key; close it with `", hint)
            raise _syntax_error(subject, pos, f"unexpected character '{text[pos]}'", hint)
        kind = match.lastgroup or ""
        if kind != "space":
            tokens.append(_Token(kind, match.group(), pos))
        pos = match.end()
    tokens.append(_Token("end", "", len(text)))
    return tokens


def _unquote(token: _Token) -> str:
    body = token.text[1:-1]
    if token.kind == "backtick":
        return body
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(0)), body, flags=re.DOTALL)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def comparison_problem(comparison: Comparison) -> tuple[str, str] | None:
    """Say what is wrong with a comparison's types as ``(detail, hint)``, or ``None``."""
    return next(_problems(comparison), None)


def _problems(comparison: Comparison) -> Iterator[tuple[str, str]]:
    # Checks run in order and the caller stops at the first problem, so later checks may rely on
    # the earlier ones having passed.
    target, key, op, value = comparison.target, comparison.key, comparison.op, comparison.value
    name = f"{target}.{key}" if target != "attributes" else key
    if target not in _PREFIXES.values():
        yield f"unknown target '{target}'", FILTER_HINT
    if target == "attributes" and key not in ATTRIBUTES:
        yield _unknown_attribute(key)
    if op in ("is null", "is not null"):
        if value is not None:
            yield f"'{op}' takes no value", FILTER_HINT
        return
    values = value if isinstance(value, tuple) else (value,)
    if op in ("in", "not in") and (not isinstance(value, tuple) or not value):
        yield f"'{op}' needs a list of values", "write tags.team in ('assay', 'core')"
    if not all(isinstance(item, int | float | str) for item in values):
        yield f"{name} needs a number, a string, true or false", FILTER_HINT
    numeric_only = target == "metrics" or (target == "attributes" and key in NUMERIC_ATTRIBUTES)
    if numeric_only and not all(_is_number(item) for item in values):
        what = (
            "a text pattern" if "like" in op else repr(next(v for v in values if not _is_number(v)))
        )
        hint = f"write a number without quotes, e.g. {name} > 0.8"
        yield f"{name} compares numerically, so it cannot be compared with {what}", hint
    if "like" in op and not isinstance(value, str):
        yield f"'{op}' needs a quoted pattern", "write params.optimizer like 'ad%'"
    if any(isinstance(item, bool) for item in values) and op not in ("=", "!="):
        yield "true and false only compare with = or !=", "write tags.flag = true"
    if len({_is_number(item) for item in values}) > 1:
        yield "a list mixes numbers and text", "write all numbers or all quoted strings"
    text_only = target == "tags" or (target == "attributes" and key not in NUMERIC_ATTRIBUTES)
    if text_only and op in ("<", "<=", ">", ">=") and _is_number(value):
        hint = f"quote the value to compare text, e.g. {name} {op} '{value}'"
        yield f"{name} compares as text, so ordering by a number would mislead", hint


def _unknown_attribute(key: str) -> tuple[str, str]:
    valid = ", ".join(sorted(ATTRIBUTES))
    hint = f"for a metric, param or tag write metrics.{key}, params.{key} or tags.{key}"
    return f"unknown run attribute '{key}'; valid attributes are {valid}", hint


class _Parser:
    def __init__(self, text: str, subject: str, hint: str) -> None:
        self.subject = subject
        self.hint = hint
        self.tokens = _tokenize(text, subject, hint)
        self.index = 0
        self.depth = 0

    def peek(self) -> _Token:
        return self.tokens[self.index]

    def take(self) -> _Token:
        token = self.tokens[self.index]
        self.index = min(self.index + 1, len(self.tokens) - 1)
        return token

    def fail(self, token: _Token, detail: str, hint: str | None = None) -> FilterSyntaxError:
        return _syntax_error(self.subject, token.pos, detail, hint or self.hint)

    def expect_end(self, after: str) -> None:
        token = self.peek()
        if token.kind != "end":
            raise self.fail(token, f"expected {after}, found {token.describe()}")

    def or_expr(self) -> Node:
        operands = [self.and_expr()]
        while self.peek().word == "or":
            self.take()
            operands.append(self.and_expr())
        return operands[0] if len(operands) == 1 else Or(tuple(operands))

    def and_expr(self) -> Node:
        operands = [self.not_expr()]
        while self.peek().word == "and":
            self.take()
            operands.append(self.not_expr())
        return operands[0] if len(operands) == 1 else And(tuple(operands))

    def not_expr(self) -> Node:
        token = self.peek()
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise self.fail(token, f"the filter nests deeper than {_MAX_DEPTH} levels")
        try:
            return self.negation_or_group(token)
        finally:
            self.depth -= 1

    def negation_or_group(self, token: _Token) -> Node:
        if token.word == "not":
            self.take()
            return Not(self.not_expr())
        if token.text == "(" and token.kind == "punct":
            self.take()
            node = self.or_expr()
            closing = self.take()
            if closing.text != ")":
                raise self.fail(closing, f"expected ')' or and/or, found {closing.describe()}")
            return node
        return self.comparison()

    def name(self) -> tuple[Target, str]:
        token = self.take()
        if token.kind != "name" or token.word in _KEYWORDS:
            raise self.fail(token, f"expected a name such as metrics.auc, found {token.describe()}")
        prefix, dot, key = token.text.partition(".")
        if not dot:
            if token.word not in ATTRIBUTES:
                raise self.fail(token, *_unknown_attribute(token.text))
            return "attributes", token.word
        target = _PREFIXES.get(prefix.lower())
        if target is None:
            valid = ", ".join(f"{p}." for p in _PREFIXES)
            raise self.fail(token, f"unknown prefix '{prefix}.'; use one of {valid}")
        if not key:
            quoted = self.take()
            if quoted.kind not in ("backtick", "string") or quoted.text[0] == "'":
                detail = f"expected a key after '{token.text}', found {quoted.describe()}"
                raise self.fail(quoted, detail, "quote unusual keys as metrics.`val loss`")
            key = _unquote(quoted)
            if not key:
                raise self.fail(quoted, "the quoted key is empty")
        if target == "attributes":
            if key.lower() not in ATTRIBUTES:
                raise self.fail(token, *_unknown_attribute(key))
            key = key.lower()
        return target, key

    def value(self, after: str) -> Value:
        token = self.take()
        if token.kind == "string":
            return _unquote(token)
        if token.kind == "number":
            return int(token.text) if token.text.lstrip("+-").isdigit() else float(token.text)
        if token.word in ("true", "false"):
            return token.word == "true"
        if token.word == "null":
            raise self.fail(token, "null is not a value", "write tags.note is null or is not null")
        detail = f"expected a value after '{after}', found {token.describe()}"
        raise self.fail(token, detail, f"{self.hint}; quote text values")

    def comparison(self) -> Comparison:
        target, key = self.name()
        token = self.take()
        negated = token.word == "not"
        word = self.take().word if negated else token.word
        op: Operator
        value: Value | tuple[Value, ...] | None
        value_token = self.peek()
        if token.kind == "op":
            op = _OPERATORS[token.text]
            value = self.value(token.text)
        elif word == "in":
            op = "not in" if negated else "in"
            if self.take().text != "(":
                raise self.fail(value_token, f"expected '(' after '{op}'")
            value_token = self.peek()
            items = [self.value("(")]
            while (separator := self.take()).text == ",":
                items.append(self.value(","))
            if separator.text != ")":
                raise self.fail(separator, f"expected ',' or ')', found {separator.describe()}")
            value = tuple(items)
        elif word in ("like", "ilike"):
            op = _LIKE_OPERATORS[negated, word]
            value = self.value(word)
        elif word == "is" and not negated:
            is_not = self.peek().word == "not"
            if is_not:
                self.take()
            end = self.take()
            if end.word != "null":
                raise self.fail(end, f"expected null after 'is', found {end.describe()}")
            op, value = ("is not null" if is_not else "is null"), None
        else:
            where = "in, like or ilike after 'not'" if negated else "an operator"
            detail = f"expected {where}, found {self.tokens[self.index - 1].describe()}"
            hint = "operators are = == != < <= > >= in, not in, like, ilike, is null, is not null"
            raise self.fail(self.tokens[self.index - 1], detail, hint)
        comparison = Comparison(target, key, op, value)
        problem = comparison_problem(comparison)
        if problem is not None:
            raise self.fail(value_token, *problem)
        return comparison


def parse_filter(text: str) -> Node | None:
    """Parse a run filter such as ``metrics.auc > 0.8 and params.model = "gbm"``.

    Returns:
        The syntax tree, or ``None`` for empty text, which matches every run.

    Raises:
        FilterSyntaxError: The text does not parse; the message gives the column.
    """
    if not text.strip():
        return None
    parser = _Parser(text, "filter", FILTER_HINT)
    node = parser.or_expr()
    parser.expect_end("and, or or the end of the filter")
    return node


def parse_order_item(text: str) -> tuple[Target, str, bool]:
    """Parse one sort key such as ``metrics.auc desc`` into ``(target, key, descending)``."""
    parser = _Parser(text, f"sort key {text!r}", ORDER_HINT)
    target, key = parser.name()
    direction = parser.peek().word
    if direction in ("asc", "desc"):
        parser.take()
    parser.expect_end("asc, desc or the end of the sort key")
    return target, key, direction == "desc"
