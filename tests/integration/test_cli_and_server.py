"""The command line and a real ``parley serve`` process over a socket, on both backends."""

from __future__ import annotations

import json
import stat
import time
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text

from tests.support.processes import ServerProcess, parley_env, run_cli

BOOTSTRAP = {
    "PARLEY_INIT_ADMIN_EMAIL": "owner@example.com",
    "PARLEY_INIT_ADMIN_PASSWORD": "owner-password-1",
    "PARLEY_INIT_API_KEY": "bootstrap-secret-key-0123456789",
}


def test_serve_bootstraps_once_and_answers_over_http(database_url, tmp_path):
    env = parley_env(database_url, tmp_path, **BOOTSTRAP)
    started = time.monotonic()
    with ServerProcess(env) as server:
        ready_after = time.monotonic() - started
        headers = {"Ocp-Apim-Subscription-Key": BOOTSTRAP["PARLEY_INIT_API_KEY"]}
        me = httpx.get(f"{server.base_url}/v2/api/auth/me", headers=headers)
        assert me.status_code == 200 and me.json()["data"]["email"] == "owner@example.com"
        keys_before = httpx.get(f"{server.base_url}/v2/api/api-key", headers=headers).json()["data"]
    assert (tmp_path / "secret_key").exists(), "first start creates the server secret"
    assert ready_after < 60

    with ServerProcess(env) as server:  # a second start with the same values changes nothing
        keys_after = httpx.get(f"{server.base_url}/v2/api/api-key", headers=headers).json()["data"]
        assert [k["id"] for k in keys_after] == [k["id"] for k in keys_before]


def test_cli_creates_users_and_keys_that_work(database_url, tmp_path):
    env = parley_env(database_url, tmp_path)
    upgraded = run_cli(["db", "upgrade"], env)
    assert upgraded.returncode == 0, upgraded.stderr

    created = run_cli(
        ["users", "create", "--email", "ops@example.com", "--admin", "--org", "Ops"],
        env,
        input_text="ops-password-1\nops-password-1\n",
    )
    assert created.returncode == 0, created.stderr
    duplicate = run_cli(["users", "create", "--email", "ops@example.com", "--password", "x" * 10], env)
    assert duplicate.returncode == 1 and "already exists" in duplicate.stderr
    weak = run_cli(["users", "create", "--email", "weak@example.com", "--password", "x"], env)
    assert weak.returncode == 1 and "between 8" in weak.stderr, weak.stderr

    key = run_cli(["keys", "create", "--email", "ops@example.com", "--scope", "read_only"], env)
    assert key.returncode == 0, key.stderr
    secret = key.stdout.strip().splitlines()[-1]
    bad_scope = run_cli(["keys", "create", "--email", "ops@example.com", "--scope", "everything"], env)
    assert bad_scope.returncode == 1
    redact = run_cli(["orgs", "usage-payloads", "--org", "Ops", "--redact"], env)
    assert redact.returncode == 0 and "redacted" in redact.stderr, redact.stderr
    assert run_cli(["orgs", "usage-payloads", "--org", "Nobody", "--keep"], env).returncode == 1
    engine = create_engine(database_url)
    with engine.connect() as connection:
        stored = connection.execute(
            text("SELECT settings FROM organizations WHERE org_name = 'Ops'")
        ).scalar()
    engine.dispose()
    assert (json.loads(stored) if isinstance(stored, str) else stored)["redact_usage_payloads"] is True

    with ServerProcess(env) as server:
        me = httpx.get(f"{server.base_url}/v2/api/auth/me", headers={"Authorization": f"Bearer {secret}"})
        assert me.status_code == 200 and me.json()["data"]["is_superuser"] is True
        write = httpx.post(
            f"{server.base_url}/v2/api/api-key", headers={"Authorization": f"Bearer {secret}"}, json={}
        )
        assert write.status_code == 403
        login = httpx.post(
            f"{server.base_url}/v2/api/auth/login",
            json={"email": "ops@example.com", "password": "ops-password-1"},
        )
        assert login.status_code == 200


def test_cli_ingest_reports_completed_and_failed_files(database_url, tmp_path):
    env = parley_env(database_url, tmp_path)
    assert (
        run_cli(
            ["users", "create", "--email", "ing@example.com", "--password", "ingest-pass-1"], env
        ).returncode
        == 0
    )
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "policy.md").write_text("# Leave\n\nStaff get twenty-five days of paid leave a year.\n")
    (folder / "notes.txt").write_text("Expense reports are due on the fifth working day of each month.\n")
    good = run_cli(["ingest", str(folder), "--corpus", "Handbook", "--email", "ing@example.com"], env)
    assert good.returncode == 0, good.stderr
    assert "completed 2" in good.stderr

    (folder / "broken.pdf").write_bytes(b"%PDF-1.7 not really a pdf")
    again = run_cli(
        ["ingest", str(folder / "broken.pdf"), "--corpus", "Handbook", "--email", "ing@example.com"], env
    )
    assert again.returncode == 2
    assert "failed" in again.stderr and "broken.pdf" in again.stderr


def test_cli_eval_without_email_works_in_an_organisation_of_its_own(database_url, tmp_path):
    """A fresh data folder has no user: the evaluation makes its own, and a rerun reuses its corpus."""
    beir = tmp_path / "beir"
    beir.mkdir()
    documents = {
        "d1": ("Paid leave", "Staff get twenty-five days of paid leave a year."),
        "d2": ("Expenses", "Expense reports are due on the fifth working day of each month."),
        "d3": ("Laptops", "Every new hire receives a laptop on the first morning."),
    }
    queries = {"q1": "how many days of paid leave", "q2": "when are expense reports due"}
    (beir / "corpus.jsonl").write_text(
        "".join(json.dumps({"_id": i, "title": t, "text": x}) + "\n" for i, (t, x) in documents.items())
    )
    (beir / "queries.jsonl").write_text(
        "".join(json.dumps({"_id": i, "text": q}) + "\n" for i, q in queries.items())
    )
    qrels = tmp_path / "qrels.tsv"
    qrels.write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t1\n")
    env = parley_env(database_url, tmp_path)
    command = ["eval", "retrieval", "--beir", str(beir), "--qrels", str(qrels)]

    first = run_cli(command, env)
    assert first.returncode == 0, first.stderr
    assert "ingesting 3 documents" in first.stderr
    assert "queries 2  nDCG@10 1.0000  recall@100 1.0000" in first.stdout
    again = run_cli(command, env)
    assert again.returncode == 0, again.stderr
    assert "ingesting" not in again.stderr and "nDCG@10 1.0000" in again.stdout

    engine = create_engine(database_url)
    with engine.connect() as connection:
        owners = connection.execute(
            text(
                "SELECT o.org_name, u.email, u.password_hash FROM corpora c"
                " JOIN users u ON u.id = c.owner_id JOIN organizations o ON o.id = c.org_id"
                " WHERE c.name = 'beir-eval'"
            )
        ).all()
    engine.dispose()
    assert owners == [("Retrieval evaluation (parley eval)", "evaluation@parley.invalid", None)]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_data_folder_and_database_files_are_private(tmp_path):
    """A new data folder is 0700 and the database, its -wal and -shm and the secret 0600; an
    existing folder and database open to others (an older install) are tightened on start."""
    fresh, older = tmp_path / "fresh" / "data", tmp_path / "older"
    older.mkdir(mode=0o755)
    (older / "parley.db").touch(mode=0o644)
    older.chmod(0o755)
    (older / "parley.db").chmod(0o644)
    for data_dir in (fresh, older):
        env = parley_env("", data_dir, **BOOTSTRAP)
        del env["PARLEY_DATABASE_URL"]  # the default: SQLite under the data folder
        with ServerProcess(env) as server:
            headers = {"Ocp-Apim-Subscription-Key": BOOTSTRAP["PARLEY_INIT_API_KEY"]}
            created = httpx.post(
                f"{server.base_url}/v2/api/corpus", headers=headers, json={"name": "Private"}
            )
            assert created.status_code == 201
            files = [
                data_dir / name for name in ("parley.db", "parley.db-wal", "parley.db-shm", "secret_key")
            ]
            assert {path.name: oct(mode(path)) for path in files} == {path.name: "0o600" for path in files}
            assert oct(mode(data_dir)) == "0o700"
