"""Per-organisation embedders, end to end on both backends: an organisation embeds its corpora and
queries through its own OpenAI-compatible endpoint (a real HTTP server in the test process)
while another keeps the built-in MiniLM; switching back withholds the old vectors until a
refresh; the configuration is its admins' alone."""

from __future__ import annotations

import json
import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from parley.accounts.models import Organization
from parley.corpora.models import AgentCorpus, Chunk, Corpus
from parley.embeddings import MINILM_MODEL_NAME, OnnxMiniLMEmbedder
from parley.search.service import hybrid_search
from parley.search.vector import VectorCache
from parley.usage.models import LLMUsageRecord
from tests.support.processes import parley_env, run_cli
from tests.support.world import Actor, World
from tests.surfaces.ejento.factories import (
    _save,
    add_text,
    assert_error,
    fresh,
    make_agent,
    make_corpus,
    poll,
    succeeded,
)
from tests.unit.embeddings.conftest import GOOD_KEY, EmbeddingServer

REFUND = (
    "Refund policy\n\nCustomers may return goods within thirty days of delivery for a full refund. "
    "Refunds are paid to the original card within five working days.\n"
)
QUESTION = "How long do customers have to return goods?"
ANSWERED = "Agent Response Created Successfully."
LOCAL = f"local:{MINILM_MODEL_NAME}"


def path(org_id: int) -> str:
    return f"/parley/v1/organizations/{org_id}/embedder"


def ask(actor: Actor, agent_id: int, question: str):  # type: ignore[no-untyped-def]
    return actor.post(f"/response-service/api/v2/agents/{agent_id}/responses", json={"user_query": question})


def parley_error(response, status: int) -> str:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and body["error"]["message"]
    return body["error"]["message"]


def desk(world: World, db: Session, name: str) -> tuple[Actor, Actor, int, int]:
    """An organisation with an admin, a member, and an agent bound to one (empty) corpus."""
    org = world.org(name)
    admin = world.user(org, admin=True)
    member = world.user(org)
    agent = make_agent(db, admin, world.project(world.team(org, {admin: "Owner"})))
    corpus = make_corpus(db, admin)
    _save(db, AgentCorpus(org_id=org.id, agent_id=agent.id, corpus_id=corpus.id, connected_by=admin.id))
    return admin, member, agent.id, corpus.id


def chunks(db: Session, corpus_id: int) -> list[Chunk]:
    fresh(db)
    return list(db.scalars(select(Chunk).where(Chunk.corpus_id == corpus_id)))


def corpus_settings(db: Session, corpus_id: int) -> dict:
    fresh(db)
    return db.get(Corpus, corpus_id).settings


def test_an_org_embeds_through_its_endpoint_while_another_keeps_minilm(
    world: World, db: Session, embedding_server: EmbeddingServer, onnx_embedder: OnnxMiniLMEmbedder, tmp_path
):
    model = f"org-a-{uuid.uuid4().hex[:8]}"
    already = len(embedding_server.requests)
    a_admin, a_member, a_agent, a_corpus = desk(world, db, "Remote Org")
    b_admin, _, b_agent, b_corpus = desk(world, db, "Local Org")

    body = {"base_url": embedding_server.base_url, "model": model, "api_key": GOOD_KEY}
    view = a_admin.put(path(a_admin.org_id), json=body)
    assert view.status_code == 200, view.text
    signature = f"openai:{embedding_server.base_url}#{model}"
    assert view.json()["signature"] == signature and view.json()["source"] == "organization"
    assert view.json()["api_key_set"] is True and GOOD_KEY not in view.text
    fresh(db)
    stored = db.get(Organization, a_admin.org_id).settings["embedder"]
    assert stored["api_key_ref"].startswith("encrypted:") and GOOD_KEY not in json.dumps(stored)

    # Another organisation cannot read or change A's configuration; A's members cannot either.
    assert "not found" in parley_error(b_admin.get(path(a_admin.org_id)), 404)
    parley_error(b_admin.put(path(a_admin.org_id), json=body), 404)
    parley_error(b_admin.delete(path(a_admin.org_id)), 404)
    parley_error(a_member.get(path(a_admin.org_id)), 403)
    parley_error(a_member.delete(path(a_admin.org_id)), 403)
    fresh(db)
    assert db.get(Organization, a_admin.org_id).settings["embedder"] == stored
    assert b_admin.get(path(b_admin.org_id)).json()["signature"] == LOCAL

    # Both organisations ingest the same text at the same time, each with its own embedder.
    a_doc = add_text(a_admin, a_corpus, REFUND)["id"]
    b_doc = add_text(b_admin, b_corpus, REFUND)["id"]
    assert poll(a_admin, a_doc)["status"] == "completed" and poll(b_admin, b_doc)["status"] == "completed"
    seen = embedding_server.log(model)
    assert len(seen) == 1 and seen[0]["status"] == 200 and "thirty days" in seen[0]["payload"]["input"][0]
    assert {c.embedding_model for c in chunks(db, a_corpus)} == {model}
    assert {(c.embedding_model, c.embedding_dim) for c in chunks(db, b_corpus)} == {(MINILM_MODEL_NAME, 384)}
    assert corpus_settings(db, a_corpus)["embedder"] == signature
    assert corpus_settings(db, b_corpus)["embedder"] == LOCAL

    a_answer = succeeded(ask(a_admin, a_agent, QUESTION), 200, ANSWERED)
    b_answer = succeeded(ask(b_admin, b_agent, QUESTION), 200, ANSWERED)
    assert "thirty days" in a_answer["answer"] and "thirty days" in b_answer["answer"]
    # A's query went to A's endpoint (then the offline answerer's sentence vectors, in the same
    # space); B never called it.
    assert embedding_server.log(model)[1]["payload"]["input"] == [a_answer["query"]]
    assert [r["model"] for r in embedding_server.requests[already:] if r["model"] != model] == []
    fresh(db)
    records = db.scalars(select(LLMUsageRecord).where(LLMUsageRecord.feature_name == "embedding")).all()
    assert sorted((r.org_id, r.prompt_name, r.status) for r in records) == [
        (a_admin.org_id, "document_embedding", "success"),
        (a_admin.org_id, "query_embedding", "success"),
    ]
    assert all(r.model_name == model and r.integration == "openai-embeddings" for r in records)

    # Back to the installation's MiniLM, through the CLI: A's vectors leave vector search.
    switched = run_cli(
        ["orgs", "embeddings", "--org", "Remote Org", "--default"],
        parley_env(world.settings.database_url, tmp_path),
    )
    assert switched.returncode == 0, switched.stderr
    assert LOCAL in switched.stdout and f"refresh (vector search skips them until then): {a_corpus}" in (
        " ".join(switched.stderr.split())
    )
    assert {c.embedding_dim for c in chunks(db, a_corpus)} == {0}
    assert corpus_settings(db, a_corpus)["embedding_refresh_needed"] is True
    assert {c.embedding_dim for c in chunks(db, b_corpus)} == {384}, "B is untouched"
    assert a_admin.get(path(a_admin.org_id)).json()["refresh_needed_corpus_ids"] == [a_corpus]

    # Until the refresh, A's corpus answers from lexical search alone, never from the old vectors.
    hits = hybrid_search(db, VectorCache(), QUESTION, onnx_embedder.embed_query(QUESTION), [a_corpus])
    assert hits and all(h.vector_score is None and h.lexical_score is not None for h in hits)
    assert "thirty days" in succeeded(ask(a_admin, a_agent, QUESTION), 200, ANSWERED)["answer"]
    calls_before = len(embedding_server.requests)

    refreshed = succeeded(
        a_admin.post(f"/v2/api/corpus/{a_corpus}/refresh"),
        200,
        "Corpus documents have been queued for reindexing",
    )
    assert refreshed["document_ids"] == [a_doc] and poll(a_admin, a_doc)["status"] == "completed"
    assert {(c.embedding_model, c.embedding_dim) for c in chunks(db, a_corpus)} == {(MINILM_MODEL_NAME, 384)}
    assert "embedding_refresh_needed" not in corpus_settings(db, a_corpus)
    assert corpus_settings(db, a_corpus)["embedder"] == LOCAL
    hits = hybrid_search(db, VectorCache(), QUESTION, onnx_embedder.embed_query(QUESTION), [a_corpus])
    assert any(h.vector_score is not None for h in hits)
    assert len(embedding_server.requests) == calls_before, "the endpoint is no longer used"


def test_endpoint_failures_fail_ingestion_and_queries_with_a_reason(
    world: World, db: Session, embedding_server: EmbeddingServer
):
    admin, _, agent, corpus = desk(world, db, "Broken Org")
    model = f"org-c-{uuid.uuid4().hex[:8]}"
    assert (
        admin.put(
            path(admin.org_id),
            json={"base_url": embedding_server.base_url, "model": model, "api_key": GOOD_KEY},
        ).status_code
        == 200
    )
    assert poll(admin, add_text(admin, corpus, REFUND)["id"])["status"] == "completed"

    # The endpoint now answers 404 for the model (not retried): the query is a 502 in the
    # surface's own envelope, recorded as a failed call; nothing crashes.
    missing = f"missing-{uuid.uuid4().hex[:8]}"
    body = {"base_url": embedding_server.base_url, "model": missing, "api_key": GOOD_KEY}
    assert admin.put(path(admin.org_id), json=body).status_code == 200
    error = assert_error(ask(admin, agent, QUESTION), 502)
    assert "embedding model failed" in error["message"] and "does not exist" in error["message"]
    failed = add_text(admin, corpus, REFUND)["id"]
    polled = poll(admin, failed)
    assert polled["status"] == "failed" and polled["status_reason"].startswith("Embedding failed:")
    assert "does not exist" in polled["status_reason"]
    fresh(db)
    records = db.scalars(
        select(LLMUsageRecord).where(LLMUsageRecord.model_name == missing).order_by(LLMUsageRecord.id)
    ).all()
    assert [(r.prompt_name, r.status, r.org_id) for r in records] == [
        ("query_embedding", "failure", admin.org_id),
        ("document_embedding", "failure", admin.org_id),
    ]

    # A key read from an unset variable: a clear 502 as well, not a crash.
    body = {
        "base_url": embedding_server.base_url,
        "model": model,
        "api_key_env": "PARLEY_LLM_KEY_UNSET_EMBED",
    }
    assert admin.put(path(admin.org_id), json=body).status_code == 200
    assert "PARLEY_LLM_KEY_UNSET_EMBED" in assert_error(ask(admin, agent, QUESTION), 502)["message"]


BAD_BODIES = [
    {"base_url": "not a url", "model": "m"},
    {"base_url": "http://127.0.0.1:9/v1", "model": ""},
    {"base_url": "http://127.0.0.1:9/v1", "model": "m", "dimension": 0},
    {"base_url": "http://127.0.0.1:9/v1", "model": "m", "api_key": "k", "api_key_env": "PARLEY_LLM_KEY_X"},
    {"base_url": "http://127.0.0.1:9/v1", "model": "m", "api_key_env": "PARLEY_SECRET_KEY"},
    {"base_url": "http://127.0.0.1:9/v1", "model": "m", "colour": "blue"},
    {"model": "m"},
]


def test_bad_endpoint_settings_are_refused_and_nothing_is_written(world: World, db: Session):
    org = world.org()
    admin = world.user(org, admin=True)
    for body in BAD_BODIES:
        response = admin.put(path(org.id), json=body)
        assert 400 <= response.status_code < 500 and response.json()["error"]["message"], (
            body,
            response.text,
        )
    fresh(db)
    assert "embedder" not in db.get(Organization, org.id).settings
    assert admin.get(path(org.id)).json()["signature"] == LOCAL


def test_cli_sets_an_endpoint_with_a_key_variable_and_refuses_bad_input(world: World, db: Session, tmp_path):
    org = world.org("Cli Org")
    env = parley_env(world.settings.database_url, tmp_path)
    base = ["orgs", "embeddings", "--org", "Cli Org"]
    done = run_cli(
        [
            *base,
            "--base-url",
            "http://127.0.0.1:9/v1/",
            "--model",
            "bge",
            "--api-key-env",
            "PARLEY_LLM_KEY_BGE",
        ],
        env,
    )
    assert done.returncode == 0, done.stderr
    assert "openai:http://127.0.0.1:9/v1#bge (organization embedder; key set)" in done.stdout
    fresh(db)
    assert db.get(Organization, org.id).settings["embedder"] == {
        "base_url": "http://127.0.0.1:9/v1",
        "model": "bge",
        "api_key_ref": "env:PARLEY_LLM_KEY_BGE",
        "dimension": None,
    }
    assert run_cli([*base, "--base-url", "http://127.0.0.1:9/v1"], env).returncode == 2
    refused = run_cli([*base, "--base-url", "http://x/v1", "--model", "m", "--api-key-env", "HOME"], env)
    assert refused.returncode == 1 and "PARLEY_LLM_KEY_" in refused.stderr
    fresh(db)
    assert db.get(Organization, org.id).settings["embedder"]["model"] == "bge"
