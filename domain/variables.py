"""Typed variable values in the Camunda 7 style.

A ``TypedValue`` holds a canonical type name (one of ``TYPE_NAMES``), a canonical
JSON-serializable value and the ``valueInfo`` mapping, so it can be stored inside events
as ``to_dict()`` and rebuilt with ``from_dict()``. Canonical values:

- String/Json/Xml/Object: ``str`` (Json and Xml hold the serialized text)
- Integer/Long/Short: ``int``; Double: ``float``; Boolean: ``bool``
- Date: ``str`` formatted as ``yyyy-MM-dd'T'HH:mm:ss.SSSZ`` in UTC (``...+0000``)
- Bytes/File: base64 ``str``
- ``None`` for a null value of any type.

``typed_value`` converts input the way Camunda's REST layer does and raises
``InvalidVariableValue`` carrying the Camunda exception name and message on bad input.

``valueInfo`` is, as in Camunda, a flat map of scalars (string, number, boolean, null): the keys
Camunda reads are ``objectTypeName`` and ``serializationDataFormat`` (Object), ``filename``,
``mimeType`` and ``encoding`` (File) and ``transient``; clients may add others (the JavaScript
client sends ``mimetype``). Nothing nested is stored, so whatever is stored can be delivered. A
File's metadata ends up in the headers of its download, so it must be fit for them: a file name
without control characters, a media type ``type/subtype``, an encoding that is a known charset.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from extask.domain.errors import java_text

TYPE_NAMES: tuple[str, ...] = (
    "String", "Integer", "Long", "Short", "Double", "Boolean", "Date",
    "Null", "Json", "Xml", "Object", "Bytes", "File",
)

_CANONICAL_NAMES = {name.lower(): name for name in TYPE_NAMES}

# Java class named in conversion error messages ("[B" is Java's name for byte[]).
_JAVA_CLASSES = {
    "String": "java.lang.String",
    "Integer": "java.lang.Integer",
    "Long": "java.lang.Long",
    "Short": "java.lang.Short",
    "Double": "java.lang.Double",
    "Boolean": "java.lang.Boolean",
    "Date": "java.util.Date",
    "Null": "java.lang.Object",
    "Json": "java.lang.String",
    "Xml": "java.lang.String",
    "Object": "java.lang.String",
    "Bytes": "[B",
    "File": "[B",
}

_INT_BITS = {"Short": 16, "Integer": 32, "Long": 64}

_INTEGER_TEXT = re.compile(r"[+-]?\d+")
_DECIMAL_TEXT = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
# valueInfo keys Camunda reads as text, and the one it reads as a boolean.
_TEXT_INFO = ("objectTypeName", "serializationDataFormat", "filename", "mimeType", "encoding")
_TRANSIENT = "transient"
# A File's metadata, as it goes into the headers of its download (RFC 9110 tokens and parameters).
_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_MEDIA_TYPE = re.compile(
    rf"{_TOKEN}/{_TOKEN}(?:[ \t]*;[ \t]*{_TOKEN}=(?:{_TOKEN}|\"[\x20\x21\x23-\x5b\x5d-\x7e]*\"))*"
)
_CHARSET = re.compile(_TOKEN)
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
MAX_MEDIA_TYPE_LENGTH = 255
MAX_CHARSET_LENGTH = 64
MAX_FILENAME_LENGTH = 4000  # Camunda keeps a file name in a column of 4000 characters
# How much of an offending value a refusal shows.
_SHOWN = 100

_DATE_TEXT = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?"
    r"(Z|[+-]\d{2}:?\d{2})"
)


class InvalidVariableValue(ValueError):
    """Bad variable input, reported to REST clients as a Camunda error.

    ``camunda_type`` is the Camunda exception simple name ("InvalidRequestException" for
    conversion failures, "RestException" for unknown type names); ``message`` (also
    ``str(exc)``) is the Camunda message.
    """

    def __init__(self, camunda_type: str, message: str) -> None:
        super().__init__(message)
        self.camunda_type = camunda_type
        self.message = message


@dataclass(frozen=True)
class TypedValue:
    type: str
    value: Any
    value_info: dict = field(default_factory=dict, hash=False)

    def to_dict(self) -> dict:
        return {"type": self.type, "value": self.value, "valueInfo": dict(self.value_info)}

    @classmethod
    def from_dict(cls, d: Mapping) -> TypedValue:
        return cls(type=d["type"], value=d.get("value"), value_info=dict(d.get("valueInfo") or {}))

    def to_python(self) -> Any:
        """The value as a convenient Python object (Date -> aware datetime, Json -> parsed,
        Bytes/File -> bytes, everything else as stored)."""
        if self.value is None:
            return None
        if self.type == "Date":
            return parse_camunda_date(self.value)
        if self.type == "Json":
            return json.loads(self.value)
        if self.type in ("Bytes", "File"):
            return base64.b64decode(self.value)
        return self.value


def format_camunda_date(value: datetime) -> str:
    """Format as ``yyyy-MM-dd'T'HH:mm:ss.SSS+0000`` in UTC; naive datetimes are taken as UTC."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    d = value.astimezone(timezone.utc)
    return (
        f"{d.year:04d}-{d.month:02d}-{d.day:02d}T{d.hour:02d}:{d.minute:02d}:{d.second:02d}"
        f".{d.microsecond // 1000:03d}+0000"
    )


def parse_camunda_date(text: str) -> datetime:
    """Parse ``yyyy-MM-ddTHH:mm:ss[.fraction](Z|+HHMM|+HH:MM)`` into an aware UTC datetime.

    The fraction is read as a decimal fraction of a second (ISO meaning), up to microseconds.
    Raises ValueError on anything else.
    """
    match = _DATE_TEXT.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"Invalid date '{text}'")
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    micros = int((fraction or "0")[:6].ljust(6, "0"))
    if offset == "Z":
        tz = timezone.utc
    else:
        digits = offset[1:].replace(":", "")
        delta = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        if int(digits[2:]) >= 60 or delta >= timedelta(hours=24):
            raise ValueError(f"Invalid date '{text}'")
        tz = timezone(-delta if offset[0] == "-" else delta)
    try:
        parsed = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), micros, tz)
        return parsed.astimezone(timezone.utc)
    except OverflowError:  # e.g. year 1 shifted before datetime.min by its offset
        raise ValueError(f"Invalid date '{text}'") from None


def typed_value(value: Any, type_name: str | None = None, value_info: Mapping | None = None) -> TypedValue:
    """Build a TypedValue, converting ``value`` to ``type_name`` or inferring the type."""
    info = _value_info(value_info)
    if type_name is None:
        if isinstance(value, TypedValue):
            # Already converted (by the REST layer, or by an embedding application): its valueInfo
            # is checked all the same, since it may not have come through here.
            _value_info(value.value_info)
            if value.type == "File":
                _check_file_info(value.value_info)
            if not _is_canonical(value.value):
                raise InvalidVariableValue(
                    "InvalidRequestException",
                    f"The value of a {value.type} variable must be text, a finite number, a boolean or null, "
                    f"not {_kind(value.value)}",
                )
            return value
        return _infer(value, info)
    canonical = _CANONICAL_NAMES.get(type_name.lower()) if isinstance(type_name, str) else None
    if canonical is None:
        raise InvalidVariableValue("RestException", f"Unsupported value type '{type_name}'")
    if canonical == "File":
        _check_file_info(info)
    if value is None:
        return TypedValue(canonical, None, info)
    return TypedValue(canonical, _CONVERTERS[canonical](value, canonical), info)


def typed_variables(variables: Mapping[str, Any] | None) -> dict[str, TypedValue]:
    """Type every value of a name -> value mapping (TypedValues are kept, plain values inferred)."""
    if variables is None:
        return {}
    return {name: typed_value(value) for name, value in variables.items()}


def _value_info(value_info: Mapping | None) -> dict:
    if value_info is None:
        return {}
    if not isinstance(value_info, Mapping):
        raise InvalidVariableValue("InvalidRequestException", f"valueInfo must be an object, got '{value_info}'")
    info = dict(value_info)
    # It is stored as JSON, which has no NaN or infinities (and the events' encoder would quietly
    # write them as null).
    try:
        json.dumps(info, allow_nan=False)
    except (TypeError, ValueError):
        raise InvalidVariableValue(
            "InvalidRequestException", f"valueInfo must be a JSON object of finite numbers, got '{value_info}'"
        ) from None
    except RecursionError:  # nested beyond what JSON text is read to: checked as any nesting below
        pass
    for key, item in info.items():
        if not isinstance(key, str):
            raise _invalid_info(f"valueInfo must be an object with text keys, got the key '{_shown(key)}'")
        if not (item is None or isinstance(item, (str, bool, int, float))):
            raise _invalid_info(
                "valueInfo must be a flat object of strings, numbers, booleans and nulls: "
                f"'{_shown(key)}' is {_kind(item)}"
            )
    for key in _TEXT_INFO:
        if not isinstance(info.get(key), (str, type(None))):
            raise _invalid_info(f"valueInfo '{key}' must be a string, got '{_shown(info[key])}'")
    if not isinstance(info.get(_TRANSIENT), (bool, type(None))):
        raise _invalid_info("The property 'transient' should have a value of type 'boolean'.")
    return info


def _is_canonical(value: object) -> bool:
    """What ``TypedValue.value`` holds once converted: a scalar (Json and Xml are text)."""
    if isinstance(value, float):
        return math.isfinite(value)
    return value is None or isinstance(value, (str, bool, int))


def _kind(item: object) -> str:
    if isinstance(item, Mapping):
        return "an object"
    if isinstance(item, (list, tuple)):
        return "an array"
    return f"of Python type {type(item).__name__}"


def _check_file_info(info: Mapping) -> None:
    """A File's name, media type and encoding go into the headers of its download."""
    filename, mime_type, encoding = info.get("filename"), info.get("mimeType"), info.get("encoding")
    if filename is not None and _CONTROL_CHARACTERS.search(filename):
        raise _invalid_info(
            f"The file name (valueInfo 'filename') must not hold control characters or line breaks, got '{_shown(filename)}'"
        )
    if filename is not None and len(filename) > MAX_FILENAME_LENGTH:
        raise _invalid_info(
            f"The file name (valueInfo 'filename') must be at most {MAX_FILENAME_LENGTH} characters long, "
            f"got {len(filename)}: '{_shown(filename)}'"
        )
    if mime_type and not is_media_type(mime_type):
        raise _invalid_info(
            "The mime type (valueInfo 'mimeType') must be a media type such as 'text/plain' (ASCII, without "
            f"control characters or line breaks), got '{_shown(mime_type)}'"
        )
    if encoding and not is_charset(encoding):
        raise _invalid_info(f"The encoding (valueInfo 'encoding') is not a known charset: '{_shown(encoding)}'")


def is_media_type(text: object) -> bool:
    """``type/subtype`` with optional parameters, fit for a Content-Type header."""
    return isinstance(text, str) and len(text) <= MAX_MEDIA_TYPE_LENGTH and _MEDIA_TYPE.fullmatch(text) is not None


def is_charset(text: object) -> bool:
    """The name of a text encoding Python knows (``UTF-8``, ``ISO-8859-1`` ...), fit for a header."""
    if not isinstance(text, str) or len(text) > MAX_CHARSET_LENGTH or _CHARSET.fullmatch(text) is None:
        return False
    try:
        return getattr(codecs.lookup(text), "_is_text_encoding", True)  # not base64, rot13, zlib ...
    except LookupError:
        return False


def _invalid_info(message: str) -> InvalidVariableValue:
    return InvalidVariableValue("InvalidRequestException", message)


def _shown(value: object) -> str:
    """A value as a refusal shows it: cut short, its control characters written out (\\u000d)."""
    text = java_text(value)
    text = text if len(text) <= _SHOWN else f"{text[:_SHOWN]}..."
    return _CONTROL_CHARACTERS.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


def _infer(value: Any, info: dict) -> TypedValue:
    if isinstance(value, str):
        return TypedValue("String", value, info)
    if isinstance(value, bool):
        return TypedValue("Boolean", value, info)
    if isinstance(value, int):
        type_name = "Integer" if _fits(value, 32) else "Long"
        return TypedValue(type_name, _to_int(value, type_name), info)
    if isinstance(value, float):
        return TypedValue("Double", _to_double(value, "Double"), info)
    if value is None:
        return TypedValue("Null", None, info)
    if isinstance(value, (dict, list)):
        return TypedValue("Json", _to_json(value, "Json"), info)
    if isinstance(value, datetime):
        return TypedValue("Date", format_camunda_date(value), info)
    if isinstance(value, (bytes, bytearray)):
        return TypedValue("Bytes", base64.b64encode(value).decode("ascii"), info)
    raise InvalidVariableValue(
        "InvalidRequestException",
        f"Cannot infer a variable type for value '{value}' of Python type {type(value).__name__}",
    )


def _cannot_convert(value: Any, type_name: str) -> InvalidVariableValue:
    return InvalidVariableValue(
        "InvalidRequestException",
        f"Cannot convert value '{java_text(value)}' of type '{type_name}' to java type {_JAVA_CLASSES[type_name]}",
    )


def _fits(number: int, bits: int) -> bool:
    return -(2 ** (bits - 1)) <= number < 2 ** (bits - 1)


def _to_int(value: Any, type_name: str) -> int:
    if isinstance(value, bool):
        number = None
    elif isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and _INTEGER_TEXT.fullmatch(value):
        number = int(value)
    else:
        number = None
    if number is None or not _fits(number, _INT_BITS[type_name]):
        raise _cannot_convert(value, type_name)
    return number


def _to_double(value: Any, type_name: str) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str) and _DECIMAL_TEXT.fullmatch(value):
        number = float(value)
    else:
        raise _cannot_convert(value, type_name)
    # NaN and infinities cannot be written as JSON.
    if not math.isfinite(number):
        raise _cannot_convert(value, type_name)
    return number


def _to_boolean(value: Any, type_name: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise _cannot_convert(value, type_name)


def _to_string(value: Any, type_name: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    raise _cannot_convert(value, type_name)


def _to_date(value: Any, type_name: str) -> str:
    if isinstance(value, datetime):
        return format_camunda_date(value)
    try:
        return format_camunda_date(parse_camunda_date(value))
    except ValueError:
        raise _cannot_convert(value, type_name) from None


def _to_null(value: Any, type_name: str) -> None:
    # typed_value only calls converters for non-None values.
    raise _cannot_convert(value, type_name)


def _not_serialized_text(type_name: str) -> InvalidVariableValue:
    return InvalidVariableValue(
        "InvalidRequestException",
        f"Must provide 'null' or String value for value of SerializableValue type '{type_name}'.",
    )


def _to_json(value: Any, type_name: str) -> str:
    if isinstance(value, str):
        try:
            json.loads(value)
        except ValueError:
            raise _cannot_convert(value, type_name) from None
        except RecursionError:  # nested too deeply to be read: no JSON this engine can use either
            raise _nested_too_deeply(type_name) from None
        return value
    if isinstance(value, (dict, list)):
        try:
            return json.dumps(value, separators=(",", ":"), allow_nan=False)
        except (TypeError, ValueError):
            raise _cannot_convert(value, type_name) from None
        except RecursionError:
            raise _nested_too_deeply(type_name) from None
    raise _not_serialized_text(type_name)


def _nested_too_deeply(type_name: str) -> InvalidVariableValue:
    return InvalidVariableValue(
        "InvalidRequestException", f"Cannot convert a value of type '{type_name}': it is nested too deeply"
    )


def _to_serialized_text(value: Any, type_name: str) -> str:
    if isinstance(value, str):
        return value
    raise _not_serialized_text(type_name)


def _to_base64(value: Any, type_name: str) -> str:
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, str):
        try:
            return base64.b64encode(base64.b64decode(value, validate=True)).decode("ascii")
        except (binascii.Error, ValueError):
            pass
    raise _cannot_convert(value, type_name)


_CONVERTERS = {
    "String": _to_string,
    "Integer": _to_int,
    "Long": _to_int,
    "Short": _to_int,
    "Double": _to_double,
    "Boolean": _to_boolean,
    "Date": _to_date,
    "Null": _to_null,
    "Json": _to_json,
    "Xml": _to_serialized_text,
    "Object": _to_serialized_text,
    "Bytes": _to_base64,
    "File": _to_base64,
}
