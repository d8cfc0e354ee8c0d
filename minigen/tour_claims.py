"""The tour's claims: each a statement, a measured number, a threshold and a verdict.

A claim is checked by :func:`check` from the measurement alone, so a test can feed it a
fake measurement and see it fail; the report prints the threshold, the value and
"holds" / "does not hold" for every one.
"""

from __future__ import annotations

import operator

import numpy as np

__all__ = ["check", "OPS", "power_law_exponent"]

OPS = {">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt}


def check(statement: str, measured: float, op: str, threshold: float, how: str) -> dict:
    """One claim: ``holds = measured <op> threshold``. ``how`` says what was measured."""
    if op not in OPS:
        raise ValueError(f"op must be one of {sorted(OPS)}, got {op!r}")
    measured = float(measured)
    return {"statement": statement, "measured": measured, "op": op,
            "threshold": float(threshold), "how": how,
            "holds": bool(OPS[op](measured, threshold))}


def power_law_exponent(sizes, seconds) -> float:
    """Least-squares slope of log(seconds) against log(sizes): 1 for a cost linear in the
    size, 2 for a quadratic one."""
    return float(np.polyfit(np.log(sizes), np.log(seconds), 1)[0])
