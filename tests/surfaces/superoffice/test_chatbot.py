"""GetChatbotResponse and its companions answered by a real agent over indexed documents: the
seed's sample request as sent (Basic auth, JSON), XML both ways, $select, SO-TimeZone, the
ChatId history, and the same turns seen through the Ejento surface."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from lxml import etree
from sqlalchemy import select, update

from parley.accounts.models import User
from parley.accounts.security import hash_password
from parley.answers.extractive import NOT_FOUND_ANSWER
from parley.responses.models import AgentResponse
from parley.threads.models import ChatThread
from parley.usage.models import LLMUsageRecord
from tests.surfaces.ejento.factories import count, fresh
from tests.surfaces.superoffice.support import TURN_KEYS, assert_so_error, basic, make_desk, so_post

TIMESTAMP_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{7}Z$")
SEED_HEADERS = {
    "Authorization": "Basic dGplMDpUamUw",
    "Accept": "application/json; charset=utf-8",
    "Accept-Language": "en",
    "Content-Type": "application/json; charset=utf-8",
}
SEED_TURN = {
    "Timestamp": "2015-05-06T10:10:58.2880006+02:00",
    "UserPrompt": "aut",
    "UserDisplayText": "voluptatibus",
    "BotResponse": "numquam",
    "BotActions": {"BotActions1": "distinctio", "BotActions2": "dolore"},
    "Attachments": ["distinctio", "quisquam"],
}
SEED_BODY = {
    "ChatId": "iusto",
    "IsoLangCode": "et",
    "UserPrompt": "quam",
    "DisplayValue": "porro",
    "PreviousTurns": [SEED_TURN, SEED_TURN],
    "ApiUrl": "http://www.example.com/",
}
REFUND_QUESTION = "How long do customers have to return goods?"


@pytest.fixture
def desk(world, db):  # type: ignore[no-untyped-def]
    return make_desk(world, db)


def _stored_turn(db, chat_id):  # type: ignore[no-untyped-def]
    fresh(db)
    thread = db.scalars(select(ChatThread).where(ChatThread.chat_id == chat_id)).one()
    rows = db.scalars(
        select(AgentResponse).where(AgentResponse.chat_thread_id == thread.id).order_by(AgentResponse.id)
    ).all()
    return thread, rows


def test_the_seed_sample_request_as_sent(desk, world, db):
    tje = world.user(desk.org, email="tje0")
    # The sample's Basic credentials are tje0:Tje0, shorter than Parley lets anyone choose.
    world.db.execute(update(User).where(User.id == tje.id).values(password_hash=hash_password("Tje0")))
    world.db.commit()
    r = world.client.post(
        "/api/v1/Agents/AI/GetChatbotResponse", headers=SEED_HEADERS, content=json.dumps(SEED_BODY)
    )
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/json; charset=utf-8"
    assert r.headers["content-language"] == "et"
    turn = r.json()
    assert list(turn) == TURN_KEYS
    assert TIMESTAMP_UTC.match(turn["Timestamp"])
    assert turn["UserPrompt"] == "quam" and turn["UserDisplayText"] == "porro"
    # Nothing in the documents is about "quam": the agent says so, suggests nothing, cites nothing.
    assert turn["BotResponse"] == NOT_FOUND_ANSWER
    assert turn["BotActions"] == {} and turn["Attachments"] == []
    # Stored under the ChatId, for Basic's user; the empty history took PreviousTurns as context.
    thread, [row] = _stored_turn(db, "iusto")
    assert (
        thread.user_id == tje.id and thread.agent_id == desk.agent.id and thread.query_source == "superoffice"
    )
    assert row.question == "quam" and row.query_source == "superoffice" and row.user_id == tje.id
    assert row.response["history"] == [{"user": "aut", "bot": "numquam"}] * 2
    assert row.response["superoffice"] == {"display_value": "porro", "language": "et"}
    stamp = datetime.strptime(turn["Timestamp"][:26], "%Y-%m-%dT%H:%M:%S.%f")
    assert stamp == row.created_on.replace(tzinfo=None)


def test_an_answer_cites_documents_suggests_follow_ups_and_keeps_the_chat_history(desk, world, db):
    headers = basic(desk.owner.email)
    body = {"ChatId": "ticket-123", "UserPrompt": REFUND_QUESTION, "PreviousTurns": []}
    r = so_post(headers, world, "GetChatbotResponse", json=body)
    assert r.status_code == 200, r.text
    first = r.json()
    assert "thirty days" in first["BotResponse"] and first["UserDisplayText"] is None
    assert first["Attachments"] == ["Refund policy"]
    _, [row] = _stored_turn(db, "ticket-123")
    followups = row.response["followup_questions"]
    assert followups and first["BotActions"] == {q: q for q in followups}
    assert row.response["answer"] == first["BotResponse"]
    usage = db.scalars(select(LLMUsageRecord).where(LLMUsageRecord.agent_response_id == row.id)).all()
    assert [u.channel for u in usage] == ["superoffice"] and usage[0].user_id == desk.owner.id
    # The second turn leans on the stored history; the client's PreviousTurns are not needed.
    stale = {"UserPrompt": "something else", "BotResponse": "entirely"}
    r = so_post(
        headers,
        world,
        "GetChatbotResponse",
        json={"ChatId": "ticket-123", "UserPrompt": "And how are they paid?", "PreviousTurns": [stale]},
    )
    assert r.status_code == 200, r.text
    second = r.json()
    assert "five working days" in second["BotResponse"]
    thread, rows = _stored_turn(db, "ticket-123")
    assert rows[1].response["history"] == [{"user": REFUND_QUESTION, "bot": first["BotResponse"]}]
    assert count(db, ChatThread, ChatThread.chat_id == "ticket-123") == 1
    # The history of the ChatId, oldest first, as it was returned.
    r = so_post(headers, world, "GetChatbotTurns", json={"ChatId": "ticket-123"})
    assert r.status_code == 200 and r.json() == [first, second]
    # The same thread and answers through the Ejento surface.
    threads = desk.owner.get(f"/v2/api/agent/{desk.agent.id}/chat-thread").json()["data"]
    assert [t["id"] for t in threads] == [thread.id]
    # Clearing: 204, no turns, the thread deleted, and the next turn starts a new history.
    r = so_post(headers, world, "ClearChatbotTurns", json={"ChatId": "ticket-123"})
    assert r.status_code == 204 and r.content == b""
    assert so_post(headers, world, "GetChatbotTurns", json={"ChatId": "ticket-123"}).json() == []
    fresh(db)
    assert db.get(ChatThread, thread.id).is_deleted is True
    r = so_post(headers, world, "GetChatbotResponse", json={"ChatId": "ticket-123", "UserPrompt": "Refunds?"})
    assert r.status_code == 200
    fresh(db)
    live = db.scalars(
        select(ChatThread).where(ChatThread.chat_id == "ticket-123", ChatThread.is_deleted.is_(False))
    )
    [new_thread] = live.all()
    assert new_thread.id != thread.id
    # Clearing a ChatId with no history is fine too.
    assert so_post(headers, world, "ClearChatbotTurns", json={"ChatId": "never-used"}).status_code == 204


def test_xml_in_and_out(desk, world, db):
    xml = b"""<?xml version="1.0" encoding="utf-8"?>
<GetChatbotResponse xmlns="http://www.superoffice.net/ws/crm/NetServer/Services88"
                    xmlns:i="http://www.w3.org/2001/XMLSchema-instance">
  <ChatId>contact-43</ChatId>
  <IsoLangCode>en</IsoLangCode>
  <UserPrompt>How are refunds paid?</UserPrompt>
  <DisplayValue i:nil="true"/>
  <PreviousTurns>
    <ChatbotTurn>
      <Timestamp>2015-05-06T10:10:58.2880006+02:00</Timestamp>
      <UserPrompt>aut</UserPrompt>
      <UserDisplayText>voluptatibus</UserDisplayText>
      <BotResponse>numquam</BotResponse>
      <BotActions>
        <StringKeyValuePair><Key>BotActions1</Key><Value>distinctio</Value></StringKeyValuePair>
      </BotActions>
      <Attachments><string>distinctio</string></Attachments>
    </ChatbotTurn>
  </PreviousTurns>
  <ApiUrl>http://www.example.com/</ApiUrl>
</GetChatbotResponse>"""
    headers = {**basic(desk.owner.email), "Content-Type": "application/xml", "Accept": "application/xml"}
    r = so_post(headers, world, "GetChatbotResponse", content=xml)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/xml; charset=utf-8"
    root = etree.fromstring(r.content)
    nil = "{http://www.w3.org/2001/XMLSchema-instance}nil"
    assert root.tag == "ChatbotTurn" and [child.tag for child in root] == TURN_KEYS
    fields = {child.tag: child for child in root}
    assert TIMESTAMP_UTC.match(fields["Timestamp"].text)
    assert (
        fields["UserPrompt"].text == "How are refunds paid?" and fields["UserDisplayText"].get(nil) == "true"
    )
    assert "five working days" in fields["BotResponse"].text
    assert [s.text for s in fields["Attachments"]] == ["Refund policy"]
    pairs = [(p.findtext("Key"), p.findtext("Value")) for p in fields["BotActions"]]
    assert pairs and all(key == value for key, value in pairs)
    _, [row] = _stored_turn(db, "contact-43")
    assert row.response["history"] == [{"user": "aut", "bot": "numquam"}]
    # text/xml both ways, and the history as ArrayOfChatbotTurn.
    text_xml = {**basic(desk.owner.email), "Content-Type": "text/xml", "Accept": "text/xml"}
    r = so_post(text_xml, world, "GetChatbotTurns", content=b"<request><chatid>contact-43</chatid></request>")
    assert r.status_code == 200 and r.headers["content-type"] == "text/xml; charset=utf-8"
    array = etree.fromstring(r.content)
    assert array.tag == "ArrayOfChatbotTurn" and [t.tag for t in array] == ["ChatbotTurn"]
    assert array[0].findtext("BotResponse") == row.response["answer"]


def test_select_nulls_the_other_fields(desk, world):
    headers = basic(desk.owner.email)
    body = {"ChatId": "sel", "UserPrompt": REFUND_QUESTION, "DisplayValue": "Returns?"}
    r = so_post(
        headers, world, "GetChatbotResponse", params={"$select": "BotResponse, attachments,nosuch"}, json=body
    )
    turn = r.json()
    assert list(turn) == TURN_KEYS
    assert "thirty days" in turn["BotResponse"] and turn["Attachments"] == ["Refund policy"]
    assert turn["Timestamp"] is None and turn["UserPrompt"] is None and turn["UserDisplayText"] is None
    assert turn["BotActions"] is None
    r = so_post(
        headers, world, "GetChatbotTurns", params={"$select": "UserDisplayText"}, json={"ChatId": "sel"}
    )
    assert r.json() == [dict.fromkeys(TURN_KEYS) | {"UserDisplayText": "Returns?"}]


def test_so_timezone_converts_the_timestamp(desk, world, db):
    headers = basic(desk.owner.email)
    r = so_post(headers, world, "GetChatbotResponse", json={"ChatId": "tz", "UserPrompt": "Refunds?"})
    _, [row] = _stored_turn(db, "tz")
    oslo = row.created_on.astimezone(ZoneInfo("Europe/Oslo"))
    local = oslo.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0"
    offset = oslo.strftime("%z")

    def stamp(zone):  # type: ignore[no-untyped-def]
        r = so_post({**headers, "SO-TimeZone": zone}, world, "GetChatbotTurns", json={"ChatId": "tz"})
        assert r.status_code == 200, r.text
        return r.json()[0]["Timestamp"]

    assert r.json()["Timestamp"] == row.created_on.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"
    assert stamp("Europe/Oslo") == local
    assert stamp("Europe/Oslo, includeTZOffset") == f"{local}{offset[:3]}:{offset[3:]}"
    assert stamp("UTC, includeTZOffset") == row.created_on.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0+00:00"
    minus = row.created_on.astimezone(timezone(-timedelta(hours=5, minutes=30)))
    assert stamp("-05:30, includeTZOffset") == minus.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0-05:30"
    assert_so_error(
        so_post({**headers, "SO-TimeZone": "Mars/Olympus"}, world, "GetChatbotTurns", json={"ChatId": "tz"}),
        400,
        "time zone",
    )
    # A bad zone is refused before anything is answered or written.
    r = so_post(
        {**headers, "SO-TimeZone": "Nowhere"},
        world,
        "GetChatbotResponse",
        json={"ChatId": "tz2", "UserPrompt": "Refunds?"},
    )
    assert_so_error(r, 400)
    assert count(db, ChatThread, ChatThread.chat_id == "tz2") == 0


def test_other_content_types(desk, world, db):
    headers = {**basic(desk.owner.email), "Content-Type": "application/x-www-form-urlencoded"}
    form = "ChatId=form-1&UserPrompt=How+are+refunds+paid%3F&DisplayValue=Refund+payments&IsoLangCode=nb"
    r = so_post(headers, world, "GetChatbotResponse", content=form)
    assert r.status_code == 200, r.text
    assert r.json()["UserDisplayText"] == "Refund payments" and r.headers["content-language"] == "nb"
    for content_type in ("application/merge-patch+json", "application/json-patch+json", "text/json"):
        r = so_post(
            {**basic(desk.owner.email), "Content-Type": content_type, "Accept": "text/json"},
            world,
            "GetChatbotTurns",
            content=json.dumps({"chatid": "form-1"}),
        )
        assert r.status_code == 200 and r.headers["content-type"] == "text/json; charset=utf-8"
        assert [t["UserDisplayText"] for t in r.json()] == ["Refund payments"]
    # Accept with q-values: XML preferred over JSON here.
    r = so_post(
        {**basic(desk.owner.email), "Accept": "application/json;q=0.5, application/xml"},
        world,
        "GetChatbotTurns",
        json={"ChatId": "form-1"},
    )
    assert r.headers["content-type"].startswith("application/xml")
