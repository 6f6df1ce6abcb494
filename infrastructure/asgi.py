"""The ASGI application ``extask serve`` runs: the engine built from the environment's settings."""

from __future__ import annotations

import atexit
import logging

from fastapi import FastAPI

from extask.infrastructure import settings
from extask.infrastructure.bootstrap import build_engine
from extask.infrastructure.rest.app import create_app


def application() -> FastAPI:
    """Factory for uvicorn (``factory=True``): one engine per server process."""
    # The engine's own warnings and errors (an unexpected error, under its correlation id) go to
    # standard error beside uvicorn's, with a time and the logger's name.
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    engine = build_engine(
        settings.database_url(),
        max_parked_polls=settings.max_parked_polls(),
        max_parked_polls_per_client=settings.max_parked_polls_per_client(),
        limits=settings.limits(),
    )
    atexit.register(engine.close)
    return create_app(
        engine.service, engine.long_polling, engine.batches, engine.audit, policy=settings.request_policy()
    )
