"""The raw content of Bytes and File variables (``.../variables/{name}/data``), as Camunda sends it.

Bytes answer ``application/octet-stream``; File answers its ``mimeType`` (octet-stream when it has
none, plus ``; charset=<encoding>`` when it has an encoding) and ``Content-Disposition: attachment``
with its file name, plain and RFC 5987-encoded. Any other type is a 400.

Since their input is checked (``domain.variables``), a File's metadata is fit for headers; metadata
stored before that is made fit here (an unfit media type or encoding is left out, control
characters of a file name are written as ``_``), so that every File can be downloaded.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping

from starlette.responses import Response

from extask.application.errors import BadRequest
from extask.domain.variables import TypedValue, is_charset, is_media_type

OCTET_STREAM = "application/octet-stream"
# java.net.URLEncoder leaves these unencoded (and Camunda turns its "+" for a space into "%20").
_UNRESERVED = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-*_")
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")


class BinaryResponse(Response):
    """A body with exactly the given Content-Type (Starlette would add a charset to text types)."""

    def init_headers(self, headers: Mapping[str, str] | None = None) -> None:
        super().init_headers(headers)
        self.raw_headers = [(k, v) for k, v in self.raw_headers if k != b"content-type"]
        self.raw_headers.append((b"content-type", (self.media_type or OCTET_STREAM).encode("latin-1")))


def binary_response(variable: TypedValue, name: str) -> Response:
    if variable.type not in ("Bytes", "File"):
        raise BadRequest(f"Value of variable with id {name} is not a binary value.")
    content = base64.b64decode(variable.value) if variable.value else b""
    if variable.type == "Bytes":
        return BinaryResponse(content, media_type=OCTET_STREAM)
    info = variable.value_info
    mime_type, encoding, filename = info.get("mimeType"), info.get("encoding"), info.get("filename")
    media_type = mime_type if is_media_type(mime_type) else OCTET_STREAM
    if encoding and is_charset(encoding):
        media_type += f"; charset={encoding}"
    return BinaryResponse(
        content,
        media_type=media_type,
        headers={"Content-Disposition": attachment(filename if isinstance(filename, str) else None)},
    )


def attachment(filename: str | None) -> str:
    if filename is None:
        return "attachment"
    encoded = "".join(chr(b) if b in _UNRESERVED else f"%{b:02X}" for b in filename.encode("utf-8", "replace"))
    # The plain name is an ASCII fallback (header values are bytes); filename* carries it exactly.
    plain = filename.encode("ascii", "replace").decode("ascii").replace('"', "'").replace("\\", "_")
    return f"attachment; filename=\"{_CONTROL_CHARACTERS.sub('_', plain)}\"; filename*=UTF-8''{encoded}"
