"""``/batch``: the batches bulk commands run in the background (so far ``set-external-task-retries``),
with extask's progress counts and the failure of each task whose command failed."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from extask.application.batches import BatchService
from extask.infrastructure.rest.batch_schemas import Batch
from extask.infrastructure.rest.routers import optional_component

router = APIRouter(prefix="/batch", tags=["Batch"])


Batches = Annotated[BatchService, Depends(optional_component("batches", "This server runs no batches"))]


@router.get("/{batch_id}", response_model=Batch)
def get_batch(batches: Batches, batch_id: str) -> Batch:
    """A batch, also after it has ended (Camunda then moves it to ``/history/batch``)."""
    return Batch.from_dto(batches.get_batch(batch_id))
