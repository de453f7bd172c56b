"""The one query dialect shared by run filters and metadata search conditions.

Grammar (keywords are case-insensitive; names are not)::

    query       := or_expr
    or_expr     := and_expr ("or" and_expr)*
    and_expr    := not_expr ("and" not_expr)*
    not_expr    := "not" not_expr | "(" or_expr ")" | comparison | term
    comparison  := name op value
                 | name ["not"] "in" "(" value ("," value)* ")"
                 | name ["not"] ("like" | "ilike") value
                 | name "is" ["not"] "null"
    term        := word | "quoted phrase" | 'quoted phrase' | number
    name        := word | prefix "." (`quoted key` | "quoted key")
    op          := "=" | "==" | "!=" | "<" | "<=" | ">" | ">="
    value       := number | string | "true" | "false" | word

A word is letters, digits and ``_ - / . : +``. A word or quoted phrase that is not followed by an
operator is a text term: what the caller matches it against (a full-text index) is its own
business. This module only parses: it knows no targets, fields or types, and every node keeps the
position of its text so that callers can point at the problem.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple, TypeAlias

from labledger._foundation.errors import FilterSyntaxError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

__all__ = [
    "OPERATOR_HINT",
    "And",
    "Condition",
    "Not",
    "Or",
    "QueryNode",
    "QueryParser",
    "QueryValue",
    "TextTerm",
    "conditions_of",
    "parse_query",
    "require_few_terms",
    "syntax_error",
]

QueryValue: TypeAlias = int | float | str | bool

OPERATOR_HINT = "operators are = == != < <= > >= in, not in, like, ilike, is null, is not null"
KEYWORDS = frozenset({"and", "or", "not", "in", "like", "ilike", "is", "null", "true", "false"})
_OPERATORS = {"=": "=", "==": "=", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
    | (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
    | (?P<backtick>`[^`]*`)
    | (?P<number>[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?(?![A-Za-z0-9_.:/+-]))
    | (?P<word>[A-Za-z0-9_][A-Za-z0-9_\-/.:+]*)
    | (?P<op><=|>=|==|!=|=|<|>)
    | (?P<punct>[(),])
    """,
    re.VERBOSE | re.DOTALL,
)
_MAX_DEPTH = 100  # keeps a hostile query from exhausting the interpreter's recursion limit
# What a filter may hold, so that it stays a query the databases run (see ``require_few_terms``).
MAX_TERMS = 256  # conditions and text terms
MAX_NESTING = 16  # ``and``/``or``/``not`` within one another (SQLite's parser gives out near 30)
MAX_LIST_VALUES = 1000  # values of one ``in`` list
MAX_VALUES = 5000  # values in all (SQLite binds at most 32,766 in a statement)
MAX_TEXT = 10_000  # characters of one value or text term (a long LIKE pattern is refused)
_SCOPE_ROOM = 4  # terms and levels a caller may add to a user's filter
_MAX_NUMBER_TEXT = 400  # characters of a number as written (Python reads at most 4,300 digits)
_SCOPE_VALUES = 2000  # and values (the projects a user sees)
_ESCAPES = {"\\": "\\", "'": "'", '"': '"', "n": "\n", "t": "\t", "r": "\r"}


@dataclass(frozen=True, slots=True)
class Condition:
    """``name op value``; ``value`` is a tuple for ``in``/``not in``, ``None`` for ``is null``.

    ``name_pos`` and ``value_pos`` are 0-based offsets into the query text (not compared).
    """

    name: str
    op: str
    value: QueryValue | tuple[QueryValue, ...] | None
    name_pos: int = field(default=0, compare=False)
    value_pos: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class TextTerm:
    """A word or quoted phrase to find in the text of what is searched."""

    text: str
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class And:
    """All operands hold."""

    operands: tuple[QueryNode, ...]


@dataclass(frozen=True, slots=True)
class Or:
    """At least one operand holds."""

    operands: tuple[QueryNode, ...]


@dataclass(frozen=True, slots=True)
class Not:
    """The operand does not hold."""

    operand: QueryNode


QueryNode: TypeAlias = Condition | TextTerm | And | Or | Not


class Token(NamedTuple):
    """One token: its kind (string, backtick, number, word, op, punct or end), text and offset."""

    kind: str
    text: str
    pos: int

    @property
    def word(self) -> str:
        return self.text.lower() if self.kind == "word" else ""

    def describe(self) -> str:
        return "the end of the text" if self.kind == "end" else f"'{self.text}'"


def syntax_error(subject: str, pos: int, detail: str, hint: str) -> FilterSyntaxError:
    """``Invalid <subject> at column <pos + 1>: <detail>``, with ``hint`` saying what to write."""
    return FilterSyntaxError(f"Invalid {subject} at column {pos + 1}: {detail}", hint=hint)


def _unquote(token: Token) -> str:
    body = token.text[1:-1]
    if token.kind == "backtick":
        return body
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(0)), body, flags=re.DOTALL)


class QueryParser:
    """A recursive-descent parser over the tokens of one query.

    Args:
        text: The query.
        subject: What it is, for messages (``filter``, ``field condition``).
        hint: What to write instead, for messages that have no more specific advice.
        expected: What a query starts with, for messages (``a name such as metrics.auc``).
        must_compare: Whether a word is a name that must be followed by an operator (it is never
            a text term); words for which it says no are text terms unless an operator follows.
    """

    def __init__(
        self,
        text: str,
        *,
        subject: str,
        hint: str,
        expected: str = "a name",
        must_compare: Callable[[str], bool] = lambda word: False,
    ) -> None:
        self.subject = subject
        self.hint = hint
        self.expected = expected
        self.must_compare = must_compare
        self.tokens = self._tokenize(text)
        self.index = 0
        self.depth = 0

    def _tokenize(self, text: str) -> list[Token]:
        tokens: list[Token] = []
        pos = 0
        while pos < len(text):
            match = _TOKEN.match(text, pos)
            if match is None:
                if text[pos] in "'\"":
                    detail = f"unterminated string; close it with {text[pos]}"
                elif text[pos] == "`":
                    detail = "unterminated quoted key; close it with `"
                else:
                    detail = f"unexpected character '{text[pos]}'"
                raise syntax_error(self.subject, pos, detail, self.hint)
            if match.lastgroup != "space":
                tokens.append(Token(match.lastgroup or "", match.group(), pos))
            pos = match.end()
        tokens.append(Token("end", "", len(text)))
        return tokens

    def peek(self, ahead: int = 0) -> Token:
        return self.tokens[min(self.index + ahead, len(self.tokens) - 1)]

    def take(self) -> Token:
        token = self.tokens[self.index]
        self.index = min(self.index + 1, len(self.tokens) - 1)
        return token

    def fail(self, token: Token, detail: str, hint: str | None = None) -> FilterSyntaxError:
        return syntax_error(self.subject, token.pos, detail, hint or self.hint)

    def expect_end(self, after: str) -> None:
        token = self.peek()
        if token.kind != "end":
            raise self.fail(token, f"expected {after}, found {token.describe()}")

    def or_expr(self) -> QueryNode:
        operands = [self.and_expr()]
        while self.peek().word == "or":
            self.take()
            operands.append(self.and_expr())
        return operands[0] if len(operands) == 1 else Or(tuple(operands))

    def and_expr(self) -> QueryNode:
        operands = [self.not_expr()]
        while self.peek().word == "and":
            self.take()
            operands.append(self.not_expr())
        return operands[0] if len(operands) == 1 else And(tuple(operands))

    def not_expr(self) -> QueryNode:
        token = self.peek()
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise self.fail(token, f"the {self.subject} nests deeper than {_MAX_DEPTH} levels")
        try:
            return self._negation_group_or_leaf(token)
        finally:
            self.depth -= 1

    def _negation_group_or_leaf(self, token: Token) -> QueryNode:
        if token.word == "not":
            self.take()
            return Not(self.not_expr())
        if token.kind == "punct" and token.text == "(":
            self.take()
            node = self.or_expr()
            closing = self.take()
            if closing.text != ")":
                raise self.fail(closing, f"expected ')' or and/or, found {closing.describe()}")
            return node
        if token.kind in ("string", "number"):
            self.take()
            return self._term(token)
        if token.kind != "word" or token.word in KEYWORDS:
            raise self.fail(token, f"expected {self.expected}, found {token.describe()}")
        if self._operator_follows() or self.must_compare(token.text) or token.text.endswith("."):
            return self.comparison()
        self.take()
        following = self.peek()
        if following.kind in ("string", "number", "backtick") or (
            following.kind == "word" and following.word not in KEYWORDS
        ):
            detail = f"expected an operator after '{token.text}', found {following.describe()}"
            hint = f"{OPERATOR_HINT}; join words to find with and/or, or quote a phrase"
            raise self.fail(following, detail, hint)
        return self._term(token)

    def _term(self, token: Token) -> TextTerm:
        text = _unquote(token) if token.kind == "string" else token.text
        if not any(ch.isalnum() for ch in text):
            raise self.fail(token, "a text term needs a letter or digit", self.hint)
        return TextTerm(text, token.pos)

    def _operator_follows(self) -> bool:
        following = self.peek(1)
        if following.kind == "op":
            return True
        if following.word == "not":
            return self.peek(2).word in ("in", "like", "ilike")
        return following.word in ("in", "like", "ilike", "is")

    def name(self) -> tuple[str, Token]:
        """A name (``metrics.auc``, ``metrics.`val loss```) and the token where it starts."""
        token = self.take()
        if token.kind != "word" or token.word in KEYWORDS:
            raise self.fail(token, f"expected {self.expected}, found {token.describe()}")
        if not token.text.endswith("."):
            return token.text, token
        quoted = self.take()
        if quoted.kind not in ("backtick", "string") or quoted.text[0] == "'":
            detail = f"expected a key after '{token.text}', found {quoted.describe()}"
            raise self.fail(quoted, detail, "quote unusual keys as metrics.`val loss`")
        key = _unquote(quoted)
        if not key:
            raise self.fail(quoted, "the quoted key is empty")
        return token.text + key, token

    def value(self, after: str) -> QueryValue:
        token = self.take()
        if token.kind == "string":
            return _unquote(token)
        if token.kind == "number":
            if len(token.text) > _MAX_NUMBER_TEXT:
                raise self.fail(
                    token,
                    f"the number is {len(token.text):,} characters long",
                    "write a large number with an exponent, as 1e30",
                )
            return int(token.text) if token.text.lstrip("+-").isdigit() else float(token.text)
        if token.word in ("true", "false"):
            return token.word == "true"
        if token.word == "null":
            raise self.fail(token, "null is not a value", "write x is null or x is not null")
        if token.kind == "word" and token.word not in KEYWORDS:
            return token.text
        detail = f"expected a value after '{after}', found {token.describe()}"
        raise self.fail(token, detail, f"{self.hint}; quote text values")

    def comparison(self) -> Condition:
        name, name_token = self.name()
        token = self.take()
        negated = token.word == "not"
        op_token = self.take() if negated else token
        word = op_token.word
        value_token = self.peek()
        value: QueryValue | tuple[QueryValue, ...] | None
        if token.kind == "op":
            op, value = _OPERATORS[token.text], self.value(token.text)
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
            op, value = ("not " if negated else "") + word, self.value(word)
        elif word == "is" and not negated:
            is_not = self.peek().word == "not"
            if is_not:
                self.take()
            end = self.take()
            if end.word != "null":
                raise self.fail(end, f"expected null after 'is', found {end.describe()}")
            op, value = ("is not null" if is_not else "is null"), None
        else:
            where = "in, like or ilike after 'not'" if negated else f"an operator after '{name}'"
            detail = f"expected {where}, found {op_token.describe()}"
            raise self.fail(op_token, detail, OPERATOR_HINT)
        return Condition(name, op, value, name_token.pos, value_token.pos)


def parse_query(
    text: str,
    *,
    subject: str,
    hint: str,
    expected: str = "a name",
    must_compare: Callable[[str], bool] = lambda word: False,
) -> QueryNode | None:
    """Parse a query (see the module docstring); ``None`` for empty text.

    Raises:
        FilterSyntaxError: The text does not parse; the message gives the column.
    """
    if not text.strip():
        return None
    parser = QueryParser(
        text, subject=subject, hint=hint, expected=expected, must_compare=must_compare
    )
    node = parser.or_expr()
    parser.expect_end(f"and, or or the end of the {subject}")
    return node


def conditions_of(node: QueryNode) -> Iterator[Condition]:
    """Every comparison in a query tree, left to right."""
    if isinstance(node, And | Or):
        for operand in node.operands:
            yield from conditions_of(operand)
    elif isinstance(node, Not):
        yield from conditions_of(node.operand)
    elif isinstance(node, Condition):
        yield node


def require_few_terms(node: object, subject: str = "filter") -> None:
    """Refuse a filter tree (of runs or of metadata) that no database would run, before any
    query is built from it: more than ``MAX_TERMS`` conditions and text terms, ``and``/``or``/
    ``not`` nested deeper than ``MAX_NESTING``, an ``in`` list of more than ``MAX_LIST_VALUES``
    values or more than ``MAX_VALUES`` values in all, a text longer than ``MAX_TEXT`` or an
    integer outside 64 bits. A database refuses these with errors that say nothing of the
    filter (SQLite: "Expression tree is too large", "parser stack overflow", "too many SQL
    variables", "LIKE or GLOB pattern too complex").

    The limits leave room for the terms a caller adds to the user's filter (the projects a
    search may see): a user's filter within the documented limits always passes.

    Raises:
        FilterSyntaxError: The filter is too large.
    """
    terms = values = 0
    stack: list[tuple[object, int]] = [(node, 0)]
    while stack:
        item, depth = stack.pop()
        operands = getattr(item, "operands", None)
        operand = getattr(item, "operand", None)
        if operands is not None or operand is not None:
            if depth >= MAX_NESTING + _SCOPE_ROOM:
                raise _too_large(
                    f"the {subject} nests `and`, `or` and `not` more than {MAX_NESTING} deep",
                    "write it flatter: `a and b and c` needs no parentheses",
                )
            stack.extend((child, depth + 1) for child in (operands or (operand,)))
            continue
        terms += 1
        if terms > MAX_TERMS + _SCOPE_ROOM:
            raise _too_large(
                f"the {subject} has more than {MAX_TERMS} conditions and text terms",
                "use `in (...)` for many values of one key, or split the search into several",
            )
        for found in (getattr(item, "value", None), getattr(item, "text", None)):
            if found is None:
                continue
            listed = found if isinstance(found, tuple | list) else (found,)
            if len(listed) > MAX_LIST_VALUES:
                raise _too_large(
                    f"the {subject} lists {len(found):,} values in one `in`; at most "
                    f"{MAX_LIST_VALUES:,} are allowed",
                    "narrow the list, or split the search into several",
                )
            values += len(listed)
            for value in listed:
                _require_storable(value, subject)
        if values > MAX_VALUES + _SCOPE_VALUES:
            raise _too_large(
                f"the {subject} holds more than {MAX_VALUES:,} values in all",
                "split the search into several",
            )


def _require_storable(value: object, subject: str) -> None:
    if isinstance(value, str) and len(value) > MAX_TEXT:
        raise _too_large(
            f"the {subject} holds a text of {len(value):,} characters; at most {MAX_TEXT:,} "
            "are allowed",
            "search for a shorter part of it",
        )
    if isinstance(value, int) and not isinstance(value, bool) and not -(2**63) <= value < 2**63:
        raise _too_large(
            f"the {subject} holds the integer {str(value)[:30]}..., beyond 64 bits",
            "write it as a decimal (1e30) to compare as a number",
        )


def _too_large(message: str, hint: str) -> FilterSyntaxError:
    return FilterSyntaxError(message, hint=hint)
