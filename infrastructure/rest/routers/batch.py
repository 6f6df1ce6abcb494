"""``/batch``: the batches bulk commands run in the background (so far ``set-external-task-retries``),
with extask's progress counts and the failure of each task whose command failed."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from application.batches import BatchService
from application.errors import NotFound
from infrastructure.rest.batch_schemas import Batch

router = APIRouter(prefix="/batch", tags=["Batch"])


async def _batches(request: Request) -> BatchService:
    batches = getattr(request.app.state, "batches", None)
    if batches is None:
        raise NotFound("This server runs no batches", "InvalidRequestException")
    return batches


Batches = Annotated[BatchService, Depends(_batches)]


@router.get("/{batch_id}", response_model=Batch)
def get_batch(batches: Batches, batch_id: str) -> Batch:
    """A batch, also after it has ended (Camunda then moves it to ``/history/batch``)."""
    return Batch.from_dto(batches.get_batch(batch_id))
