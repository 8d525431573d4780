"""Application factory: wires settings, database, surfaces and operational endpoints."""

from __future__ import annotations

import hmac
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from parley.accounts import service as accounts
from parley.accounts.principal_cache import PrincipalCache, watch_principal_writes
from parley.accounts.security import use_password_hashing
from parley.answers.service import AnswerService
from parley.console.router import build_router as build_console_router
from parley.db import migrate
from parley.db.engine import create_db_engine, create_session_factory, session_scope
from parley.embeddings.router import router as org_embedder_router
from parley.errors import AuthenticationError
from parley.http.errors import install_error_handlers
from parley.http.middleware import (
    BodySizeLimitMiddleware,
    Metrics,
    RequestContextMiddleware,
    SecurityHeadersMiddleware,
    StrictJsonMiddleware,
)
from parley.ingest.pipeline import EmbedderProvider, make_worker
from parley.jobs.worker import WorkerThreads
from parley.reference_data import ensure_reference_data
from parley.search.vector import VectorCache
from parley.settings import Settings
from parley.surfaces.contextual.router import build_router as build_contextual_router
from parley.surfaces.ejento.router import build_router as build_ejento_router
from parley.surfaces.kore.router import router as kore_router
from parley.surfaces.openai.router import build_router as build_openai_router
from parley.surfaces.superoffice.router import router as superoffice_router

logger = logging.getLogger("parley")


def prepare_database(settings: Settings) -> None:
    """Migrate, insert reference rows and run the first-start bootstrap (idempotent)."""
    engine = create_db_engine(settings)
    try:
        migrate.upgrade(engine)
        with session_scope(create_session_factory(engine)) as session:
            ensure_reference_data(session)
            if accounts.bootstrap(session, settings):
                logger.info("bootstrap: created the initial organization, admin and API key")
    finally:
        engine.dispose()


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    settings.secret()  # fail fast when no secret is configured
    use_password_hashing(settings.auth.password_hash_time_cost, settings.auth.password_hash_memory_kib)
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.run_migrations_on_start:
            await run_in_threadpool(prepare_database, settings)
        engine = create_db_engine(settings)
        app.state.engine = engine
        app.state.write_sessions = create_session_factory(engine, writes=True)
        app.state.read_sessions = create_session_factory(engine, writes=False)
        app.state.embedders = EmbedderProvider(settings)
        app.state.vector_cache = VectorCache()
        watch_principal_writes()
        app.state.principal_cache = PrincipalCache(
            settings.auth.principal_cache_ttl_seconds, accounts.KEY_USE_RESOLUTION
        )
        app.state.answers = AnswerService(
            settings,
            app.state.read_sessions,
            app.state.write_sessions,
            app.state.embedders.for_org,
            app.state.vector_cache,
        )
        app.state.ready = await run_in_threadpool(migrate.is_up_to_date, engine)
        workers = WorkerThreads(
            app.state.write_sessions,
            lambda: make_worker(settings, app.state.write_sessions, app.state.embedders),
            settings.ingest.workers,
        )
        workers.start()
        try:
            yield
        finally:
            await run_in_threadpool(workers.stop)
            engine.dispose()

    app = FastAPI(
        title="Parley",
        version="0.1.0",
        description="Self-hosted retrieval-augmented agents with Ejento, Contextual AI, SuperOffice "
        "and Kore.ai compatible APIs.",
        lifespan=lifespan,
        **({} if settings.serves_api_docs else {"openapi_url": None, "docs_url": None, "redoc_url": None}),
    )
    app.state.settings = settings
    app.state.metrics = metrics
    app.state.ready = False
    install_error_handlers(app)
    app.add_middleware(StrictJsonMiddleware)  # inside the size limit: it reads whole bodies
    app.add_middleware(BodySizeLimitMiddleware, limits=settings.limits)
    app.add_middleware(RequestContextMiddleware, metrics=metrics)
    app.add_middleware(SecurityHeadersMiddleware)  # outside the size limit: also on its 413s

    @app.get("/healthz", include_in_schema=False)
    async def healthz(request: Request) -> JSONResponse:
        ready = bool(request.app.state.ready)
        return JSONResponse(
            {"status": "ok" if ready else "starting", "ready": ready}, status_code=200 if ready else 503
        )

    if settings.serves_metrics:

        @app.get("/metrics", include_in_schema=False)
        def prometheus_metrics(request: Request) -> Response:
            token = settings.endpoints.metrics_token
            if token is not None:
                expected = f"Bearer {token.get_secret_value()}".encode()
                given = request.headers.get("authorization", "").encode()
                if not hmac.compare_digest(given, expected):
                    raise AuthenticationError("/metrics needs the metrics bearer token.")
            return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    app.include_router(build_ejento_router())
    app.include_router(build_openai_router())
    app.include_router(build_contextual_router())
    app.include_router(kore_router)
    app.include_router(superoffice_router)
    app.include_router(org_embedder_router)
    app.include_router(build_console_router())  # last: it must not shadow any API path
    return app
