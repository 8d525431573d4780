"""The ``parley`` command line."""

from __future__ import annotations

import secrets
from typing import Annotated

import typer
from rich.console import Console

from parley.settings import Settings

app = typer.Typer(help="Parley: self-hosted retrieval-augmented agents.", no_args_is_help=True)
db_app = typer.Typer(help="Database commands.", no_args_is_help=True)
users_app = typer.Typer(help="Manage users.", no_args_is_help=True)
keys_app = typer.Typer(help="Manage API keys.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(users_app, name="users")
app.add_typer(keys_app, name="keys")

console = Console(stderr=True)


def _ensure_secret_key_file(settings: Settings) -> None:
    """On first start without PARLEY_SECRET_KEY, create a random key under the data dir."""
    if settings.secret_key is not None or settings.environment != "production":
        return
    path = settings.secret_key_file
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
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

    settings = Settings()
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

    settings = Settings()
    _ensure_secret_key_file(settings)
    prepare_database(settings)
    console.print("[green]Database is up to date.[/green]")


def _session():  # type: ignore[no-untyped-def]
    from parley.db.engine import create_db_engine, create_session_factory, session_scope

    settings = Settings()
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


if __name__ == "__main__":
    app()
