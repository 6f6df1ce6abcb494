"""``/version``: the Camunda REST API version extask is compatible with.

extask reports ``7.24.0`` because it follows the 7.24 line of Camunda 7 (the reference in
``spec/camunda7-external-task.md`` was written from it): clients and tools that check the
version to decide what they may call (for example ``POST /external-task/{id}/lock``, 7.15+)
then see everything extask offers. It is the API's version, not extask's own release number.
"""

from __future__ import annotations

from fastapi import APIRouter

from extask.infrastructure.rest.schemas import VersionResponse

CAMUNDA_API_VERSION = "7.24.0"

router = APIRouter(tags=["Version"])


@router.get("/version", response_model=VersionResponse)
def get_version() -> VersionResponse:
    return VersionResponse(version=CAMUNDA_API_VERSION)
