"""JSON as API Gateway and browsers read it: no ``NaN``, no ``Infinity``, in or out.

Python's ``json`` accepts ``NaN``/``Infinity`` and turns ``1e999`` into ``inf``, and writes them
back out as bare ``NaN``/``Infinity``, which ``JSON.parse`` in a browser rejects. Every body
wsgateway reads from a client goes through :func:`loads`, and every body it writes (view
answers and fanned-out messages) through :func:`dumps` or :class:`StrictJsonResponse`.
"""

from __future__ import annotations

import json
import math
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.http import JsonResponse

__all__ = ["StrictJsonResponse", "dumps", "loads"]


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999 overflows to inf
        raise ValueError(f"{text[:32]} is out of range for a JSON number")
    return value


def loads(text: str | bytes) -> Any:
    """Parse JSON, refusing ``NaN``, ``Infinity`` and numbers that overflow (``ValueError``)."""
    return json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)


def dumps(data: Any) -> str:
    """Compact JSON; ``ValueError`` for a non-finite float, ``TypeError`` for what JSON cannot hold."""
    return json.dumps(data, cls=DjangoJSONEncoder, separators=(",", ":"), allow_nan=False)


class StrictJsonResponse(JsonResponse):
    """A ``JsonResponse`` that refuses to write ``NaN``/``Infinity`` (``ValueError``)."""

    def __init__(self, data: Any, *, safe: bool = True, **kwargs: Any) -> None:
        super().__init__(data, safe=safe, json_dumps_params={"allow_nan": False}, **kwargs)
