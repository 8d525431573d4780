"""The ``parley`` command line."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from parley.accounts.security import use_password_hashing
from parley.data_folder import private_folder, write_private_text
from parley.settings import Settings

app = typer.Typer(help="Parley: self-hosted retrieval-augmented agents.", no_args_is_help=True)
db_app = typer.Typer(help="Database commands.", no_args_is_help=True)
users_app = typer.Typer(help="Manage users.", no_args_is_help=True)
keys_app = typer.Typer(help="Manage API keys.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(users_app, name="users")
app.add_typer(keys_app, name="keys")
orgs_app = typer.Typer(help="Manage organizations.", no_args_is_help=True)
app.add_typer(orgs_app, name="orgs")
eval_app = typer.Typer(help="Measure retrieval and answer quality.", no_args_is_help=True)
app.add_typer(eval_app, name="eval")

console = Console(stderr=True)


def _settings() -> Settings:
    """The settings from the environment, with the password-hash cost they give in force."""
    settings = Settings()
    use_password_hashing(settings.auth.password_hash_time_cost, settings.auth.password_hash_memory_kib)
    return settings


def _ensure_secret_key_file(settings: Settings) -> None:
    """On first start without PARLEY_SECRET_KEY, create a random key under the data dir."""
    if settings.secret_key is not None or settings.environment != "production":
        return
    path = settings.secret_key_file
    if not path.exists():
        private_folder(path.parent)
        write_private_text(path, secrets.token_urlsafe(48))
        console.print(f"[yellow]Created a server secret key at {path}[/yellow]")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
) -> None:
    """Start the API server (migrations run on start)."""
    import uvicorn

    from parley.app import create_app
    from parley.http.middleware import configure_logging

    settings = _settings()
    _ensure_secret_key_file(settings)
    configure_logging(settings.log_level)
    application = create_app(settings)
    uvicorn.run(
        application,
        host=host or settings.host,
        port=port or settings.port,
        log_config=None,
        proxy_headers=False,
    )


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply all database migrations and insert reference data."""
    from parley.app import prepare_database

    settings = _settings()
    _ensure_secret_key_file(settings)
    prepare_database(settings)
    console.print("[green]Database is up to date.[/green]")


def _session():  # type: ignore[no-untyped-def]
    from parley.db.engine import create_db_engine, create_session_factory, session_scope

    settings = _settings()
    _ensure_secret_key_file(settings)
    engine = create_db_engine(settings)
    return settings, session_scope(create_session_factory(engine))


@users_app.command("create")
def users_create(
    email: Annotated[str, typer.Option(help="Email address (the login).")],
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)],
    first_name: Annotated[str, typer.Option()] = "",
    last_name: Annotated[str, typer.Option()] = "",
    admin: Annotated[bool, typer.Option("--admin", help="Make the user an organization admin.")] = False,
    org: Annotated[str | None, typer.Option(help="Organization name; created when missing.")] = None,
) -> None:
    """Create a user (and its organization when needed)."""
    from sqlalchemy import select

    from parley.accounts import service as accounts
    from parley.accounts.models import Organization
    from parley.app import prepare_database
    from parley.errors import ParleyError

    settings, scope = _session()
    prepare_database(settings)
    try:
        with scope as session:
            org_name = org or settings.init_org_name
            organization = session.scalars(
                select(Organization).where(Organization.org_name == org_name)
            ).first()
            if organization is None:
                organization = accounts.create_organization(session, org_name)
            user = accounts.create_user(
                session,
                org_id=organization.id,
                email=email,
                password=password,
                first_name=first_name,
                last_name=last_name,
                is_superuser=admin,
                created_by="cli",
            )
            console.print(
                f"[green]Created user {user.email} (id {user.id}) in {organization.org_name}.[/green]"
            )
    except ParleyError as exc:
        console.print(f"[red]{exc.message}[/red]")
        raise typer.Exit(1) from exc


@orgs_app.command("usage-payloads")
def orgs_usage_payloads(
    org: Annotated[str, typer.Option(help="Organization name.")],
    redact: Annotated[
        bool, typer.Option("--redact/--keep", help="Store usage payload text redacted, or in full.")
    ],
) -> None:
    """Choose whether an organization's LLM usage records keep the text of their payloads."""
    from parley.app import prepare_database
    from parley.usage import service as usage

    settings, scope = _session()
    prepare_database(settings)
    with scope as session:
        usage.set_payload_redaction(session, _organization(session, org).id, redact)
    state = "redacted" if redact else "kept in full"
    console.print(f"[green]{org}: usage payloads written from now on are {state}.[/green]")


def _organization(session, name: str):  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from parley.accounts.models import Organization

    found = session.scalars(select(Organization).where(Organization.org_name == name)).first()
    if found is None:
        console.print(f"[red]No organization named {name}.[/red]")
        raise typer.Exit(1)
    return found


@orgs_app.command("embeddings")
def orgs_embeddings(
    org: Annotated[str, typer.Option(help="Organization name.")],
    base_url: Annotated[
        str | None, typer.Option(help="An OpenAI-compatible endpoint, usually ending in /v1.")
    ] = None,
    model: Annotated[str | None, typer.Option(help="The model name sent to the endpoint.")] = None,
    api_key_env: Annotated[
        str | None, typer.Option(help="Environment variable (PARLEY_LLM_KEY_...) holding the endpoint's key.")
    ] = None,
    dimension: Annotated[
        int | None, typer.Option(help="Expected vector size (found from the first answer when unset).")
    ] = None,
    default: Annotated[
        bool, typer.Option("--default", help="Go back to the installation's embedder.")
    ] = False,
) -> None:
    """Choose the embedding model of an organization's corpora and queries (no option: show it).

    On a change, the organization's existing vectors leave vector search (lexical search keeps
    working) until each corpus is refreshed."""
    from parley.app import prepare_database
    from parley.embeddings import org_config
    from parley.errors import ParleyError

    if default and (base_url or model or api_key_env or dimension):
        console.print("[red]--default takes no endpoint options.[/red]")
        raise typer.Exit(2)
    if not default and (base_url or model or api_key_env or dimension) and not (base_url and model):
        console.print("[red]An endpoint needs both --base-url and --model.[/red]")
        raise typer.Exit(2)
    settings, scope = _session()
    prepare_database(settings)
    try:
        with scope as session:
            org_id = _organization(session, org).id
            change = None
            if default:
                change = org_config.use_installation_default(session, org_id, settings)
            elif base_url and model:
                fields = org_config.EndpointFields(
                    base_url, model, api_key_env=api_key_env, dimension=dimension
                )
                change = org_config.set_endpoint(session, org_id, fields, settings)
            view = org_config.describe(session, org_id, settings)
    except ParleyError as exc:
        console.print(f"[red]{exc.message}[/red]")
        raise typer.Exit(1) from exc
    typer.echo(
        f"{org}: {view.signature} ({view.source} embedder; key {'set' if view.api_key_set else 'none'})"
    )
    if change is not None and change.previous == change.signature:
        console.print("[green]Unchanged embedder: the existing vectors stay searchable.[/green]")
    if view.refresh_needed_corpus_ids:
        ids = ", ".join(map(str, view.refresh_needed_corpus_ids))
        console.print(
            f"[yellow]Corpora needing a refresh (vector search skips them until then): {ids}[/yellow]"
        )


@keys_app.command("create")
def keys_create(
    email: Annotated[str, typer.Option(help="The user the key acts as.")],
    name: Annotated[str, typer.Option(help="A label for the key.")] = "",
    scope: Annotated[str, typer.Option(help="all, read_only or restricted.")] = "all",
    permission: Annotated[
        list[str] | None, typer.Option(help="For restricted keys: category=none|read|write (repeatable).")
    ] = None,
) -> None:
    """Create an API key; its secret is printed once."""
    from parley.accounts import service as accounts
    from parley.app import prepare_database
    from parley.errors import ParleyError

    permissions = {}
    for item in permission or []:
        category, _, level = item.partition("=")
        permissions[category.strip()] = level.strip()
    settings, scope_cm = _session()
    prepare_database(settings)
    try:
        with scope_cm as session:
            user = accounts.get_user_by_email(session, email)
            if user is None:
                console.print(f"[red]No user with email {email}.[/red]")
                raise typer.Exit(1)
            key, secret = accounts.create_api_key(
                session, user=user, settings=settings, name=name, scope=scope, permissions=permissions
            )
            console.print(f"client id: {key.client_id}")
            console.print("secret (shown once):")
            typer.echo(secret)
    except ParleyError as exc:
        console.print(f"[red]{exc.message}[/red]")
        raise typer.Exit(1) from exc


@app.command()
def worker(
    concurrency: Annotated[int, typer.Option(help="Jobs run at the same time in this process.")] = 1,
) -> None:
    """Run ingestion workers in the foreground (scale-out mode: one or more per machine)."""
    import signal

    from parley.db.engine import create_db_engine, create_session_factory
    from parley.http.middleware import configure_logging
    from parley.ingest.pipeline import EmbedderProvider, make_worker
    from parley.jobs.worker import WorkerThreads

    settings = _settings()
    _ensure_secret_key_file(settings)
    configure_logging(settings.log_level)
    engine = create_db_engine(settings)
    sessions = create_session_factory(engine)
    embedders = EmbedderProvider(settings)
    threads = WorkerThreads(sessions, lambda: make_worker(settings, sessions, embedders), concurrency)
    signal.signal(signal.SIGTERM, lambda *_: threads.stop_event.set())
    threads.start()
    console.print(f"[green]{concurrency} worker(s) running; Ctrl-C to stop.[/green]")
    try:
        while not threads.stop_event.wait(1.0):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        threads.stop()
        engine.dispose()


def _owner(session, settings: Settings, email: str | None):  # type: ignore[no-untyped-def]
    """The user ingestion acts as: --email, else the bootstrap admin, else the first admin."""
    from sqlalchemy import select

    from parley.accounts import service as accounts
    from parley.accounts.models import User

    email = email or settings.init_admin_email
    user = accounts.get_user_by_email(session, email) if email else None
    if user is None and not email:
        user = session.scalars(select(User).where(User.is_superuser.is_(True)).order_by(User.id)).first()
    if user is None:
        console.print(
            "[red]No such user: pass --email of an existing user (see `parley users create`).[/red]"
        )
        raise typer.Exit(1)
    return user


# `parley eval` without --email works as this user, in an organisation of its own: an evaluation
# needs no account, and its corpus must not land among anyone's documents. The address is in a
# reserved domain (RFC 2606) and the user has no password, so nobody can sign in as it.
EVALUATION_ORG = "Retrieval evaluation (parley eval)"
EVALUATION_EMAIL = "evaluation@parley.invalid"


def _evaluation_owner(session):  # type: ignore[no-untyped-def]
    """The evaluation user, with its organisation created on the first run and reused after."""
    from parley.accounts import service as accounts

    user = accounts.get_user_by_email(session, EVALUATION_EMAIL)
    if user is None:
        organization = accounts.create_organization(session, EVALUATION_ORG)
        user = accounts.create_user(
            session, org_id=organization.id, email=EVALUATION_EMAIL, password=None, created_by="parley eval"
        )
    return user


def _process_with_progress(settings: Settings, sessions, document_ids: list[int], workers: int) -> dict:  # type: ignore[no-untyped-def]
    """Run ingestion workers in this process until the documents are done; show progress."""
    from collections import Counter

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from sqlalchemy import select

    from parley.corpora.models import Document
    from parley.db.engine import session_scope
    from parley.ingest.pipeline import EmbedderProvider, make_worker
    from parley.jobs.worker import WorkerThreads

    embedders = EmbedderProvider(settings)
    threads = WorkerThreads(sessions, lambda: make_worker(settings, sessions, embedders), workers)
    threads.start()
    done_states = ("completed", "failed", "cancelled")
    counts: Counter = Counter()
    try:
        with Progress(
            TextColumn("[bold]ingesting"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=console,
        ) as progress:
            task = progress.add_task("", total=len(document_ids))
            while True:
                with session_scope(sessions) as session:
                    statuses = []
                    for start in range(0, len(document_ids), 900):
                        batch = document_ids[start : start + 900]
                        statuses += session.scalars(
                            select(Document.status).where(Document.id.in_(batch))
                        ).all()
                counts = Counter(statuses)
                finished = sum(counts[s] for s in done_states)
                busy = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()) if k not in done_states)
                progress.update(task, completed=finished, description=busy or "done")
                if finished >= len(document_ids):
                    break
                threads.stop_event.wait(0.5)
    finally:
        threads.stop()
    return dict(counts)


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders to ingest.")],
    corpus: Annotated[str, typer.Option(help="Corpus name; created when missing.")],
    email: Annotated[str | None, typer.Option(help="User who owns the documents.")] = None,
    workers: Annotated[int, typer.Option(help="Worker threads in this process.")] = 1,
) -> None:
    """Ingest local files into a corpus, with a progress bar."""
    from parley.app import prepare_database
    from parley.db.engine import create_db_engine, create_session_factory, session_scope
    from parley.ingest.local import LocalItem, corpus_by_name, files_under, queue_items

    settings = _settings()
    _ensure_secret_key_file(settings)
    prepare_database(settings)
    files = files_under(paths)
    if not files:
        console.print("[red]No files found.[/red]")
        raise typer.Exit(1)
    sessions = create_session_factory(create_db_engine(settings))
    with session_scope(sessions) as session:
        owner = _owner(session, settings, email)
        target = corpus_by_name(session, owner, corpus)
        ids = queue_items(session, owner, target, (LocalItem(p.name, p.read_bytes()) for p in files))
        corpus_id = target.id
    counts = _process_with_progress(settings, sessions, ids, workers)
    console.print(f"corpus {corpus!r} (id {corpus_id}): " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    if counts.get("failed"):
        from sqlalchemy import select

        from parley.corpora.models import Document

        with session_scope(sessions) as session:
            for name, reason in session.execute(
                select(Document.name, Document.status_reason).where(
                    Document.id.in_(ids), Document.status == "failed"
                )
            ):
                console.print(f"[red]failed[/red] {name}: {reason}")
        raise typer.Exit(2)


@eval_app.command("retrieval")
def eval_retrieval(
    beir: Annotated[Path, typer.Option(help="BEIR folder with corpus.jsonl and queries.jsonl.")],
    qrels: Annotated[Path, typer.Option(help="Judgements (TSV: query-id, corpus-id, score).")],
    corpus: Annotated[str, typer.Option(help="Corpus to (re)use for the data set.")] = "beir-eval",
    email: Annotated[
        str | None,
        typer.Option(
            help=f"User who owns the corpus (default: {EVALUATION_EMAIL}, in an organisation of its own)."
        ),
    ] = None,
    workers: Annotated[int, typer.Option(help="Ingestion worker threads.")] = 1,
    limit_queries: Annotated[int | None, typer.Option(help="Evaluate only the first N queries.")] = None,
) -> None:
    """Ingest a BEIR data set through the normal pipeline (once) and print nDCG@10, recall@100
    and search latency."""
    import time

    from rich.progress import Progress
    from sqlalchemy import func, select

    from parley.app import prepare_database
    from parley.corpora.models import Document
    from parley.db.engine import create_db_engine, create_session_factory, session_scope
    from parley.evaluation.beir import BeirData, document_text, evaluate, load_beir, rank_documents
    from parley.ingest.local import LocalItem, corpus_by_name, queue_items
    from parley.ingest.pipeline import EmbedderProvider
    from parley.search.service import SearchOptions, hybrid_search
    from parley.search.vector import VectorCache

    settings = _settings()
    _ensure_secret_key_file(settings)
    prepare_database(settings)
    data = load_beir(beir, qrels)
    if limit_queries:
        data = BeirData(data.corpus, dict(list(data.queries.items())[:limit_queries]), data.qrels)
    sessions = create_session_factory(create_db_engine(settings))
    with session_scope(sessions) as session:
        owner = _owner(session, settings, email) if email else _evaluation_owner(session)
        org_id = owner.org_id
        target = corpus_by_name(session, owner, corpus)
        corpus_id = target.id
        have = session.scalar(
            select(func.count())
            .select_from(Document)
            .where(Document.corpus_id == corpus_id, Document.is_deleted.is_(False))
        )
        ids = []
        if not have:
            ids = queue_items(
                session,
                owner,
                target,
                (
                    # Named by title, as a user would name a document; the title then
                    # heads every chunk's context, not only the first chunk's text.
                    LocalItem(
                        e.get("title") or e["_id"], document_text(e).encode(), "text", {"beir_id": e["_id"]}
                    )
                    for e in data.corpus
                ),
            )
    if ids:
        console.print(f"ingesting {len(ids)} documents into corpus {corpus!r}")
        started = time.perf_counter()
        _process_with_progress(settings, sessions, ids, workers)
        elapsed = time.perf_counter() - started
        console.print(f"ingested in {elapsed:.1f} s ({len(ids) / elapsed:.1f} documents/s)")
    with session_scope(sessions) as session:
        embedder = EmbedderProvider(settings).for_org(session, org_id).embedder
    cache = VectorCache()
    options = SearchOptions(top_k=200, candidates=200)

    def search(query: str) -> tuple[list[str], float, float]:
        t0 = time.perf_counter()
        vector = embedder.embed_query(query)
        t1 = time.perf_counter()
        with session_scope(sessions) as session:
            hits = hybrid_search(session, cache, query, vector, [corpus_id], None, options)
        t2 = time.perf_counter()
        return (
            rank_documents(hits, lambda h: str(h.metadata.get("beir_id", h.document_name))),
            t1 - t0,
            t2 - t1,
        )

    search(next(iter(data.queries.values())))  # warm the vector cache
    with Progress(console=console) as progress:
        task = progress.add_task("queries", total=len(data.queries))
        result = evaluate(data, search, lambda n: progress.update(task, completed=n))
    typer.echo(
        f"queries {result.queries}  nDCG@10 {result.ndcg10:.4f}  recall@100 {result.recall100:.4f}\n"
        f"search p50 {result.search_p50_ms:.1f} ms  p95 {result.search_p95_ms:.1f} ms  "
        f"(with query embedding: p50 {result.total_p50_ms:.1f} ms  p95 {result.total_p95_ms:.1f} ms)"
    )


if __name__ == "__main__":
    app()
