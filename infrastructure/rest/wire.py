"""The Camunda 7 wire format: dates, typed variable values, error bodies, JSON responses.

Dates use Camunda's default pattern ``yyyy-MM-dd'T'HH:mm:ss.SSSZ``, e.g.
``2025-01-02T03:04:05.678+0000``. extask always writes them in UTC with exactly three
millisecond digits (pycamunda's parser requires them). On input it also accepts ``+00:00``
style offsets, ``Z`` and a missing or longer fraction of a second.

Variables travel as ``{"value": ..., "type": "<TypeName>", "valueInfo": {...}}``; see
``variables_from_wire`` / ``variables_to_wire``. Responses carry ``Content-Type:
application/json`` with no charset parameter, because the JS client only parses JSON bodies
when the header is exactly that.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from starlette.responses import JSONResponse

from extask.domain.variables import (
    InvalidVariableValue,
    TypedValue,
    format_camunda_date,
    parse_camunda_date,
    typed_value,
)


def format_date(value: datetime | None) -> str | None:
    """``yyyy-MM-ddTHH:mm:ss.SSS+0000`` in UTC (naive values are taken as UTC); None -> None."""
    return None if value is None else format_camunda_date(value)


def parse_date(text: str) -> datetime:
    """Parse a Camunda date (``+0000``, ``+00:00`` or ``Z`` offset, optional fraction) into an
    aware UTC datetime; raises ValueError on bad input."""
    return parse_camunda_date(text)


def variables_from_wire(raw: Any) -> dict[str, TypedValue]:
    """Parse a JSON ``name -> VariableValue`` map into TypedValues.

    A null/absent ``type`` means untyped (type inferred from the JSON value; a raw JSON object
    or array becomes Json). Variables with ``valueInfo.transient == true`` are validated and
    then dropped, since they are never persisted.
    """
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise InvalidVariableValue("InvalidRequestException", "Variables must be a JSON object mapping names to values")
    result: dict[str, TypedValue] = {}
    for name, entry in raw.items():
        if not isinstance(entry, Mapping):
            raise InvalidVariableValue(
                "InvalidRequestException",
                f"Variable '{name}' must be a JSON object with 'value', 'type' and 'valueInfo'",
            )
        variable = typed_value(entry.get("value"), entry.get("type"), entry.get("valueInfo"))
        if variable.value_info.get("transient") is not True:
            result[name] = variable
    return result


def variables_to_wire(variables: Mapping[str, TypedValue]) -> dict[str, dict]:
    """Render TypedValues as VariableValue objects; File values are sent without ``value``."""
    wire: dict[str, dict] = {}
    for name, variable in variables.items():
        entry = variable.to_dict()
        if variable.type == "File":
            del entry["value"]
        wire[name] = entry
    return wire


class CamundaJSONResponse(JSONResponse):
    """JSONResponse whose Content-Type is exactly ``application/json`` (no charset)."""

    media_type = "application/json"

    def init_headers(self, headers: Mapping[str, str] | None = None) -> None:
        super().init_headers(headers)
        # Pin the header whatever Starlette's charset rules or the caller's headers say.
        self.raw_headers = [(k, v) for k, v in self.raw_headers if k != b"content-type"]
        self.raw_headers.append((b"content-type", b"application/json"))


class RenderedJSONResponse(CamundaJSONResponse):
    """A CamundaJSONResponse whose content is JSON already written (bytes)."""

    def render(self, content: Any) -> bytes:
        return content


def error_body(camunda_type: str, message: str, code: int | None = None) -> dict:
    return {"type": camunda_type, "message": message, "code": code}


def error_response(status: int, camunda_type: str, message: str, code: int | None = None) -> CamundaJSONResponse:
    return CamundaJSONResponse(error_body(camunda_type, message, code), status_code=status)
