"""A small EventBridge event-pattern matcher for offline tests.

It covers the subset of the pattern language the module uses or is likely to
use: exact values, nested objects, `prefix`, `suffix`, `anything-but`,
`exists`, `equals-ignore-case` and `$or`. Anything else raises, so a pattern
using an operator this matcher does not know fails the tests instead of
passing by accident.
"""

from __future__ import annotations

from typing import Any

_MISSING = object()
_OPERATORS = {"prefix", "suffix", "anything-but", "exists", "equals-ignore-case"}


class PatternError(ValueError):
    """The pattern is not one EventBridge would accept (or not supported here)."""


def matches(pattern: dict[str, Any], event: Any) -> bool:
    validate(pattern)
    return _match_object(pattern, event if isinstance(event, dict) else {})


def validate(pattern: Any, path: str = "$") -> None:
    if not isinstance(pattern, dict) or not pattern:
        raise PatternError(f"{path}: a pattern level must be a non-empty object")
    for key, value in pattern.items():
        where = f"{path}.{key}"
        if key == "$or":
            if not isinstance(value, list) or len(value) < 2:
                raise PatternError(f"{where}: $or needs a list of at least two patterns")
            for index, alternative in enumerate(value):
                validate(alternative, f"{where}[{index}]")
        elif isinstance(value, dict):
            validate(value, where)
        elif isinstance(value, list):
            if not value:
                raise PatternError(f"{where}: an empty match list matches nothing")
            for matcher in value:
                _validate_matcher(matcher, where)
        else:
            raise PatternError(f"{where}: leaf values must be lists, got {value!r}")


def _validate_matcher(matcher: Any, where: str) -> None:
    if matcher is None or isinstance(matcher, (str, int, float, bool)):
        return
    if not isinstance(matcher, dict) or len(matcher) != 1:
        raise PatternError(f"{where}: a matcher must be a scalar or a one-key object, got {matcher!r}")
    (operator, operand), = matcher.items()
    if operator not in _OPERATORS:
        raise PatternError(f"{where}: unsupported operator {operator!r}")
    if operator == "exists" and not isinstance(operand, bool):
        raise PatternError(f"{where}: exists takes true or false")
    if operator in {"prefix", "suffix", "equals-ignore-case"} and not isinstance(operand, str):
        raise PatternError(f"{where}: {operator} takes a string")
    if operator == "anything-but":
        if isinstance(operand, dict):
            if set(operand) - {"prefix", "suffix"} or len(operand) != 1:
                raise PatternError(f"{where}: anything-but object takes prefix or suffix")
        elif isinstance(operand, list):
            if not operand:
                raise PatternError(f"{where}: anything-but list must not be empty")
        elif not isinstance(operand, (str, int, float)):
            raise PatternError(f"{where}: anything-but takes a value, a list or prefix/suffix")


def _match_object(pattern: dict[str, Any], event: dict[str, Any]) -> bool:
    for key, expected in pattern.items():
        if key == "$or":
            if not any(_match_object(alternative, event) for alternative in expected):
                return False
            continue
        actual = event.get(key, _MISSING)
        if isinstance(expected, dict):
            # A missing object behaves like an empty one, so only
            # `exists: false` leaves inside it can match.
            nested = actual if isinstance(actual, dict) else {}
            if actual is not _MISSING and not isinstance(actual, dict):
                return False
            if not _match_object(expected, nested):
                return False
        elif not _match_leaf(expected, actual):
            return False
    return True


def _match_leaf(matchers: list[Any], actual: Any) -> bool:
    # An array in the event matches when any of its elements matches.
    values = actual if isinstance(actual, list) else [actual]
    if actual is _MISSING:
        values = [_MISSING]
    return any(_match_value(matcher, value) for matcher in matchers for value in values)


def _same_scalar(expected: Any, actual: Any) -> bool:
    # JSON keeps true and 1 apart, and "1" and 1; Python's == does not
    # always, so compare the kinds first.
    if isinstance(expected, bool) or isinstance(actual, bool):
        return type(expected) is type(actual) and expected == actual
    if isinstance(expected, (int, float)) and isinstance(actual, (int, float)):
        return expected == actual
    return type(expected) is type(actual) and expected == actual


def _match_value(matcher: Any, actual: Any) -> bool:
    if not isinstance(matcher, dict):
        if actual is _MISSING:
            return False
        return _same_scalar(matcher, actual)

    (operator, operand), = matcher.items()
    if operator == "exists":
        return (actual is not _MISSING) == operand
    if actual is _MISSING:
        return False
    if operator == "prefix":
        return isinstance(actual, str) and actual.startswith(operand)
    if operator == "suffix":
        return isinstance(actual, str) and actual.endswith(operand)
    if operator == "equals-ignore-case":
        return isinstance(actual, str) and actual.casefold() == operand.casefold()
    if operator == "anything-but":
        if isinstance(operand, dict):
            (inner, text), = operand.items()
            if not isinstance(actual, str):
                return True
            return not (actual.startswith(text) if inner == "prefix" else actual.endswith(text))
        excluded = operand if isinstance(operand, list) else [operand]
        return not any(_same_scalar(value, actual) for value in excluded)
    raise PatternError(f"unsupported operator {operator!r}")
