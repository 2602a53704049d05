"""Control-plane request validation driven by botocore's own ``apigatewayv2`` service model.

botocore ships the JSON model every AWS SDK is generated from; its input shapes say which body
members an operation takes, their types (string, integer, boolean, list, map, structure),
enums, length and range limits, and which are required. Checking requests against it (rather
than member by member by hand) means a wrong-typed member — a list as ``RouteKey``, a string as
``RequestModels`` — is a 400 ``BadRequestException`` like on AWS, never stored, never echoed
back to break the AWS CLI, never a 500 later. Members the model does not know are dropped.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache
from typing import Any

from botocore.model import OperationModel, ServiceModel, Shape

from .errors import bad_request

Json = dict[str, Any]


@lru_cache(maxsize=1)
def service_model() -> ServiceModel:
    """botocore's ``apigatewayv2`` model (loaded once)."""
    import botocore.session

    return botocore.session.get_session().get_service_model("apigatewayv2")


@lru_cache(maxsize=1)
def _operations() -> dict[tuple[str, str], str]:
    model = service_model()
    table: dict[tuple[str, str], str] = {}
    for name in model.operation_names:
        http = model.operation_model(name).http
        table[(http["method"], _shape_of(http["requestUri"].partition("?")[0]))] = name
    return table


def _shape_of(template: str) -> str:
    """``/v2/apis/{apiId}`` → ``/v2/apis/{}``: placeholder names do not matter."""
    return re.sub(r"\{[^}]*\}", "{}", template)


def operation_for(method: str, uri_template: str) -> OperationModel | None:
    """The operation served at ``method`` + ``uri_template`` (``/v2/apis/{apiId}``), if any."""
    name = _operations().get((method, _shape_of(uri_template)))
    return service_model().operation_model(name) if name else None


def validate_body(operation: OperationModel, body: Json) -> Json:
    """The body members of ``operation``'s input shape, checked; 400 on the first violation.

    ``body`` uses the wire (camelCase) names; the result keeps only known members, null ones
    left out.
    """
    shape = operation.input_shape
    if shape is None:
        return {}
    checked: Json = {}
    for name, member in shape.members.items():
        if member.serialization.get("location"):
            continue  # path, query string and headers are not in the body
        wire = member.serialization.get("name", name)
        value = body.get(wire)
        if value is None:
            if name in shape.required_members:
                raise bad_request(f"{name} is required")
            continue
        checked[wire] = _check(member, value, name)
    return checked


def _check(shape: Shape, value: Any, path: str) -> Any:
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            raise _invalid(path, "an object")
        out: Json = {}
        for name, member in shape.members.items():  # type: ignore[attr-defined]
            wire = member.serialization.get("name", name)
            if value.get(wire) is not None:
                out[wire] = _check(member, value[wire], f"{path}.{name}")
            elif name in shape.required_members:
                raise bad_request(f"{path}.{name} is required")
        return out
    if kind == "list":
        if not isinstance(value, list):
            raise _invalid(path, "a list")
        _check_size(shape, len(value), path)
        return [_check(shape.member, item, f"{path}[]") for item in value]  # type: ignore[attr-defined]
    if kind == "map":
        if not isinstance(value, dict):
            raise _invalid(path, "a map")
        key_shape, value_shape = shape.key, shape.value  # type: ignore[attr-defined]
        return {
            _check(key_shape, key, f"{path} key"): _check(value_shape, item, f"{path}.{key}")
            for key, item in value.items()
        }
    if kind == "string":
        if not isinstance(value, str):
            raise _invalid(path, "a string")
        enum = shape.metadata.get("enum")
        if enum and value not in enum:
            raise bad_request(f"Invalid value for {path}: {value!r} is not one of {', '.join(enum)}")
        _check_size(shape, len(value), path)
        return value
    if kind == "boolean":
        if not isinstance(value, bool):
            raise _invalid(path, "a boolean")
        return value
    if kind in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise _invalid(path, "an integer")
        _check_size(shape, value, path)
        return value
    if kind in ("double", "float"):
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise _invalid(path, "a number")
        return value
    if kind == "timestamp":
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise _invalid(path, "a timestamp")
        return value
    return value


def _check_size(shape: Shape, size: int, path: str) -> None:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if low is not None and size < low:
        raise bad_request(f"Invalid value for {path}: must be at least {low}")
    if high is not None and size > high:
        raise bad_request(f"Invalid value for {path}: must be at most {high}")


def _invalid(path: str, expected: str) -> Exception:
    return bad_request(f"Invalid value for {path}: expected {expected}")
