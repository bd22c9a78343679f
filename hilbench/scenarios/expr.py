"""Check expressions: a small, safe language over decoded bus signals.

``soc_pct >= range_reserve_soc_pct + 1`` or ``compute_power_w > 0 and gear != 'P'``.
Names are signal-map roles; enumerated roles compare with their state names.
An expression evaluates, on a common time grid, to a boolean trace and a
robustness trace in the manner of signal temporal logic: for ``a >= b`` the
robustness is ``a - b`` (in the signals' unit), ``and`` takes the minimum,
``or`` the maximum, ``not`` negates; a state comparison is +/-1.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import cast

import numpy as np

_CMP = (ast.Gt, ast.GtE, ast.Lt, ast.LtE, ast.Eq, ast.NotEq)
_ARITH = {ast.Add: np.add, ast.Sub: np.subtract, ast.Mult: np.multiply, ast.Div: np.divide}


class ExprError(ValueError):
    """An expression that cannot be evaluated; the message says which part and why."""


@dataclass(frozen=True)
class Compiled:
    """A checked expression, ready for :func:`evaluate`: its text, the roles it names and its syntax tree."""

    source: str
    names: frozenset[str]
    tree: ast.Expression


def compile_expr(source: str, known: Mapping[str, tuple[str, ...]]) -> Compiled:
    """Parse and check an expression; ``known`` maps role -> its states (empty for numbers).

    Raises:
        ExprError: syntax error, unknown name, or a construct outside the language.
    """
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError as exc:
        raise ExprError(f"not a valid expression: {exc.msg} at column {exc.offset}") from None
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            if node.id not in known:
                close = [k for k in known if k.split("_")[0] == node.id.split("_")[0]][:5]
                hint = f" (did you mean {', '.join(close)}?)" if close else ""
                raise ExprError(f'unknown signal "{node.id}"{hint}')
            names.add(node.id)
        elif not isinstance(node, (ast.Expression, ast.BoolOp, ast.And, ast.Or, ast.UnaryOp, ast.Not, ast.USub,
                                   ast.Compare, ast.BinOp, ast.Constant, ast.Load, *_CMP, *_ARITH)):
            raise ExprError(f"'{type(node).__name__}' is not allowed in a check expression")
        if isinstance(node, ast.Constant) and not isinstance(node.value, (int, float, str)):
            raise ExprError(f"constant {node.value!r} is not a number or a state name")
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            for a, b in zip(operands, operands[1:]):
                for name_node, const in ((a, b), (b, a)):
                    if (isinstance(name_node, ast.Name) and isinstance(const, ast.Constant)
                            and isinstance(const.value, str)):
                        states = known[name_node.id]
                        if not states:
                            raise ExprError(f'"{name_node.id}" is a number; it cannot equal the state "{const.value}"')
                        if const.value not in states:
                            raise ExprError(f'"{const.value}" is not a state of {name_node.id} '
                                            f'(states: {", ".join(states)})')
    return Compiled(source, frozenset(names), tree)


Lookup = Callable[[str], tuple[np.ndarray, tuple[str, ...]]]


def evaluate(compiled: Compiled, lookup: Lookup) -> tuple[np.ndarray, np.ndarray]:
    """Boolean and robustness traces of a boolean expression on the grid ``lookup`` serves."""
    node = compiled.tree.body
    sat, rob = _bool(node, lookup)
    return sat, rob


def _value(node: ast.AST, lookup: Lookup) -> tuple[np.ndarray | float | str, tuple[str, ...]]:
    if isinstance(node, ast.Constant):
        return cast("float | str", node.value), ()   # compile_expr admitted numbers and strings only
    if isinstance(node, ast.Name):
        return lookup(node.id)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        value, _ = _value(node.operand, lookup)
        return -value, ()  # type: ignore[operator]
    if isinstance(node, ast.BinOp) and type(node.op) in _ARITH:
        left, _ = _value(node.left, lookup)
        right, _ = _value(node.right, lookup)
        return _ARITH[type(node.op)](left, right), ()
    raise ExprError(f"expected a number or signal, got {ast.unparse(node)!r}")


def _bool(node: ast.AST, lookup: Lookup) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(node, ast.BoolOp):
        parts = [_bool(v, lookup) for v in node.values]
        if isinstance(node.op, ast.And):
            return np.logical_and.reduce([p[0] for p in parts]), np.minimum.reduce([p[1] for p in parts])
        return np.logical_or.reduce([p[0] for p in parts]), np.maximum.reduce([p[1] for p in parts])
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        sat, rob = _bool(node.operand, lookup)
        return ~sat, -rob
    if isinstance(node, ast.Compare):
        parts = []
        left = node.left
        for op, right in zip(node.ops, node.comparators):
            parts.append(_compare(left, op, right, lookup))
            left = right
        return np.logical_and.reduce([p[0] for p in parts]), np.minimum.reduce([p[1] for p in parts])
    if isinstance(node, ast.Name):
        values, _ = lookup(node.id)
        values = np.asarray(values, dtype=float)
        return values != 0, np.where(values != 0, 1.0, -1.0)
    raise ExprError(f"expected a condition, got {ast.unparse(node)!r}")


def _compare(left: ast.AST, op: ast.cmpop, right: ast.AST, lookup: Lookup) -> tuple[np.ndarray, np.ndarray]:
    a, a_states = _value(left, lookup)
    b, b_states = _value(right, lookup)
    if isinstance(a, str) or isinstance(b, str):
        states = a_states or b_states
        if not states:
            raise ExprError(f"{ast.unparse(left)} {ast.unparse(right)}: "
                            "a state name compares only with an enumerated signal")
        if isinstance(a, str):
            a, b = b, a
        if b not in states:
            raise ExprError(f'"{b}" is not a state of that signal (states: {", ".join(states)})')
        if not isinstance(op, (ast.Eq, ast.NotEq)):
            raise ExprError("states compare only with == or !=")
        equal = np.asarray(a) == states.index(b)
        sat = equal if isinstance(op, ast.Eq) else ~equal
        return sat, np.where(sat, 1.0, -1.0)
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    if isinstance(op, (ast.Gt, ast.GtE)):
        diff = a - b
        sat = diff > 0 if isinstance(op, ast.Gt) else diff >= 0
    elif isinstance(op, (ast.Lt, ast.LtE)):
        diff = b - a
        sat = diff > 0 if isinstance(op, ast.Lt) else diff >= 0
    else:
        gap = np.abs(a - b)
        sat = gap == 0 if isinstance(op, ast.Eq) else gap != 0
        diff = -gap if isinstance(op, ast.Eq) else gap
    shape = np.broadcast(a, b).shape
    return np.broadcast_to(sat, shape).copy(), np.broadcast_to(diff, shape).astype(float)
