"""The subset of the Compute Engine list ``filter`` syntax the fake understands.

Supported: one expression, or several in parentheses joined by whitespace or ``AND``;
each expression is ``FIELD = "VALUE"``, ``FIELD != "VALUE"`` or ``FIELD:*`` (the field is set),
where FIELD is a top-level field (``name``, ``status``) or ``labels.KEY``.
Anything else is rejected, as the real API rejects a malformed filter.
"""

from __future__ import annotations

import re
from collections.abc import Callable

_TERM = re.compile(r'^\s*(?P<field>[A-Za-z][\w.-]*)\s*(?P<op>!=|=|:)\s*(?P<value>"[^"]*"|[^\s()"]+)\s*$')
_PAREN = re.compile(r"\(([^()]*)\)")

Predicate = Callable[[dict], bool]


class FilterError(ValueError):
    """The filter expression is outside the supported subset."""


def _lookup(resource: dict, field: str) -> str | None:
    if field.startswith("labels."):
        return (resource.get("labels") or {}).get(field[len("labels.") :])
    value = resource.get(field)
    return None if value is None else str(value)


def _term(text: str) -> Predicate:
    match = _TERM.match(text)
    if not match:
        raise FilterError(f"Invalid list filter expression: {text!r}")
    field, op, value = match["field"], match["op"], match["value"].strip('"')
    if op == ":":
        if value != "*":
            raise FilterError(f"the fake only supports FIELD:* presence tests, not {text!r}")
        return lambda r: _lookup(r, field) is not None
    if op == "=":
        return lambda r: _lookup(r, field) == value
    return lambda r: _lookup(r, field) != value


def parse(expression: str | None) -> Predicate:
    """Compile a filter into a predicate over a resource's JSON dict."""
    if not expression or not expression.strip():
        return lambda r: True
    terms = _PAREN.findall(expression)
    if terms:
        rest = _PAREN.sub(" ", expression).replace("AND", " ").strip()
        if rest:
            raise FilterError(f"Invalid list filter expression: {expression!r}")
    else:
        terms = [expression]
    predicates = [_term(t) for t in terms]
    return lambda r: all(p(r) for p in predicates)
