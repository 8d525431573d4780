"""The console in a real browser against a real server: sign in, upload, chat with a streamed
cited answer, the dashboard, admin pages, small screens, keyboard and no-JavaScript use."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import ADMIN_EMAIL, LAPTOP, PDF, PHONE, Api, launch, screenshot, sign_in

expect = pytest.importorskip(
    "playwright.sync_api", reason="Playwright is not installed (scripts/install_browser.sh installs it)"
).expect
# Generous waits: the machine running the suite is shared with other test runs.
expect.set_options(timeout=20_000)

QUESTION = "Who made the first word processor?"

# Every control has a name, the page has its landmarks and one h1 (run in the page).
A11Y_PROBLEMS = """() => {
  const problems = [];
  const visible = (el) => el.getClientRects().length > 0;
  for (const el of document.querySelectorAll("input, select, textarea")) {
    if (el.type === "hidden" || (!visible(el) && el.type !== "file")) continue;
    const named = el.labels?.length || el.getAttribute("aria-label") || el.getAttribute("aria-labelledby");
    if (!named) problems.push(`unlabelled ${el.tagName.toLowerCase()} ${el.name || el.id}`);
  }
  for (const el of document.querySelectorAll("button, a[href]")) {
    if (!visible(el)) continue;
    if (el.textContent.trim() || el.getAttribute("aria-label")) continue;
    problems.push(`unnamed ${el.outerHTML.slice(0, 80)}`);
  }
  for (const selector of ["header", "nav", "main"]) {
    if (!document.querySelector(selector)) problems.push(`no ${selector} landmark`);
  }
  if (document.querySelectorAll("h1").length !== 1) problems.push("not exactly one h1");
  return problems;
}"""


def test_sign_in_refuses_a_wrong_password_then_signs_in_and_out(page):
    page.goto("/")
    expect(page).to_have_title(re.compile("Sign in"))
    page.get_by_label("Email").fill(ADMIN_EMAIL)
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("Invalid")
    screenshot(page, "login-error")

    sign_in(page)
    expect(page.get_by_role("heading", level=1)).to_have_text("Agents")
    expect(page.get_by_role("navigation", name="Main").get_by_role("link", name="Agents")).to_have_attribute(
        "aria-current", "page"
    )
    token = page.evaluate("() => JSON.parse(localStorage.getItem('parley.console.session')).access_token")
    assert httpx.get(
        f"{page.url.split('/#')[0]}/v2/api/auth/me", headers={"Authorization": f"Bearer {token}"}
    ).is_success

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    # Logging out revoked the token on the server, not just in the page.
    base = page.url.split("/#")[0]
    assert (
        httpx.get(f"{base}/v2/api/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    )


def test_upload_by_drag_and_drop_shows_stages_failures_and_duplicates(page, api: Api):
    corpus = api("POST", "/v2/api/corpus", json={"name": "Dropped files"})
    sign_in(page)
    page.goto(f"/#/corpora/{corpus['id']}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Dropped files")

    # A real drop event carrying the PDF, as a user dragging it from their desktop.
    drop = page.evaluate_handle(
        """([name, bytes]) => {
            const data = new DataTransfer();
            data.items.add(new File([new Uint8Array(bytes)], name, {type: "application/pdf"}));
            return data;
        }""",
        [PDF.name, list(PDF.read_bytes())],
    )
    page.dispatch_event(".dropzone", "drop", {"dataTransfer": drop})
    upload = page.locator(".upload", has_text=PDF.name)
    expect(upload.locator(".badge")).to_have_text("Indexed", timeout=120_000)
    expect(upload.locator(".stages li.done")).to_have_count(6)
    expect(upload).to_contain_text("5 pages")
    row = page.get_by_role("row", name=re.compile(PDF.name))
    expect(row).to_contain_text("indexed")
    screenshot(page, "corpus-upload-indexed")

    # The same file again: a duplicate warning, and skipping it uploads nothing.
    page.locator("input[type=file]").set_input_files(str(PDF))
    warning = page.locator(".upload .notice.warn")
    expect(warning).to_contain_text("same content is already in this corpus")
    screenshot(page, "corpus-duplicate-warning")
    warning.get_by_role("button", name="Skip").click()
    expect(page.locator(".upload").first.locator(".badge")).to_have_text("Skipped")
    assert api("GET", f"/v2/api/corpus/{corpus['id']}/document")["count"] == 1

    # A broken PDF fails, with the pipeline's reason shown.
    page.locator("input[type=file]").set_input_files(
        files=[{"name": "broken.pdf", "mimeType": "application/pdf", "buffer": b"%PDF-1.7 not a real pdf"}]
    )
    failed = page.locator(".upload", has_text="broken.pdf")
    expect(failed.locator(".badge")).to_have_text("Failed", timeout=120_000)
    expect(failed.locator(".stages li.failed")).to_have_text("parsing")
    reason = failed.get_by_role("alert")
    expect(reason).to_contain_text("broken.pdf:")
    stored = api("GET", f"/v2/api/corpus/{corpus['id']}/document?status=failed")["documents"]
    assert len(stored) == 1 and stored[0]["status_reason"] in reason.inner_text()
    screenshot(page, "corpus-upload-failed")

    # Tags on a document, through the console.
    row.get_by_role("button", name=f"Add tags to {PDF.name}").click()
    page.get_by_role("dialog").get_by_label("Tags").fill("history, computing")
    page.get_by_role("dialog").get_by_role("button", name="Add").click()
    expect(row.locator(".tag")).to_have_count(2)
    documents = api("GET", f"/v2/api/corpus/{corpus['id']}/document?tag=computing")["documents"]
    assert [d["name"] for d in documents] == [PDF.name]


def test_chat_streams_a_cited_answer_whose_citation_opens_the_passage(page, api: Api, policy_agent):
    sign_in(page)
    # Hold the conversation starters back until the question is sent: a slow server once let
    # them arrive after it and wipe the new turn, so the answer never appeared.
    held: list[Any] = []
    page.route(re.compile(r"/conversation-starter$"), lambda route: held.append(route))
    page.goto(f"/#/agents/{policy_agent['id']}/chat")
    expect(page.get_by_role("heading", level=1)).to_have_text("History Bot")
    for _ in range(100):  # route handlers run while Playwright waits
        if held:
            break
        page.wait_for_timeout(50)
    assert held, "the chat page never asked for its conversation starters"
    page.get_by_label("Question for History Bot").fill(QUESTION)
    with page.expect_request(re.compile(r"/responses/stream$")) as sent:
        page.get_by_label("Question for History Bot").press("Enter")
        held.pop().continue_()
    page.unroute(re.compile(r"/conversation-starter$"))
    assert sent.value.headers["accept"] == "text/event-stream"
    assert sent.value.post_data_json["user_query"] == QUESTION

    answer = page.locator(".turn .answer").last
    # Done when the answer shows its figures (or an error, reported by the assertion below).
    page.locator(".turn .answer .answer-meta, .turn .answer .notice.error").first.wait_for(timeout=120_000)
    assert answer.locator(".notice.error").count() == 0, answer.inner_text()
    expect(answer.get_by_text(re.compile(r"^Grounded \d+%$"))).to_be_visible()
    # The answer came from the stream's "end" event: same text as the stored response.
    thread_id = int(re.search(r"/chat/(\d+)$", page.url).group(1))
    stored = api("GET", f"/v2/api/chat-thread/{thread_id}/agent-response")[0]
    shown = answer.locator(".answer-text").evaluate(
        """el => {
            const copy = el.cloneNode(true);
            copy.querySelectorAll(".flag").forEach((flag) => flag.remove());
            return copy.textContent;
        }"""
    )
    rendered = " ".join(shown.split())
    for piece in re.split(r"\[\d+\]", stored["response"]["answer"]):
        assert " ".join(piece.split()) in rendered
    citations = answer.locator("button.cite")
    assert citations.count() >= 1
    expect(answer.locator(".followups button")).not_to_have_count(0)
    # The new thread is listed and marked current (another test may have asked the same question).
    thread_link = page.locator(f'.threads a[href="#/agents/{policy_agent["id"]}/chat/{thread_id}"]')
    expect(thread_link).to_have_text(QUESTION)
    expect(thread_link).to_have_attribute("aria-current", "page")
    screenshot(page, "chat-answer")

    # The citation opens the cited passage and names its document and page.
    first = citations.first
    number = int(first.inner_text())
    cited = next(p for p in stored["response"]["data_points"] if p["number"] == number)
    first.click()
    panel = page.get_by_role("complementary", name=f"Source [{number}]")
    expect(panel).to_be_visible()
    expect(panel).to_contain_text(PDF.name)
    expect(panel.locator("dd").nth(1)).to_have_text(str(cited["page"]))
    expect(panel.locator(".passage")).to_contain_text(cited["content"][:60])
    expect(panel.locator(".passage mark").first).to_be_visible()
    screenshot(page, "chat-citation-passage")
    # "Open page N" opens the stored PDF itself, at that page.
    with page.expect_popup() as opened:
        panel.get_by_role("button", name=f"Open page {cited['page']}").click()
    opened.value.wait_for_url(re.compile(rf"^blob:.*#page={cited['page']}$"))
    opened.value.close()
    page.keyboard.press("Escape")
    expect(panel).to_be_hidden()
    expect(first).to_be_focused()

    # Feedback, a comment and a pin reach the server.
    answer.get_by_role("button", name="Helpful", exact=True).click()
    expect(answer.get_by_role("button", name="Helpful", exact=True)).to_have_attribute("aria-pressed", "true")
    answer.get_by_role("button", name="Comment").click()
    answer.get_by_label("Add a comment").fill("Checked against the handbook.")
    answer.get_by_role("button", name="Add comment").click()
    expect(answer.locator(".comments li")).to_contain_text("Checked against the handbook.")
    answer.get_by_role("button", name="Pin").click()
    expect(answer.get_by_role("button", name="Pinned")).to_have_attribute("aria-pressed", "true")
    saved = api("GET", f"/v2/api/agent-response/{stored['id']}")
    assert saved["pinned"] is True
    assert [f["is_upvote"] for f in saved["feedback"]] == [True]
    assert [c["comment"] for c in saved["comments"]] == ["Checked against the handbook."]

    # A follow-up question is asked in the same thread.
    follow_up = answer.locator(".followups button").first.inner_text()
    answer.locator(".followups button").first.click()
    expect(page.locator(".turn .question").last).to_have_text(follow_up)
    expect(page.locator(".turn .answer").nth(1).locator(".answer-meta")).to_be_visible(timeout=120_000)
    assert len(api("GET", f"/v2/api/chat-thread/{thread_id}/agent-response")) == 2


def test_unsupported_sentences_are_flagged(page, api: Api, policy_agent):
    me = api("GET", "/v2/api/auth/me")
    thread = api("POST", f"/v2/api/agent/{policy_agent['id']}/chat-thread", json={"title": "Grounding check"})
    supported, unsupported = "WordStar ran on CP/M [1].", "It was written in a single weekend."
    answer = f"{supported} {unsupported}"
    point = {
        "number": 1, "chunk_id": 1, "document_id": 1, "corpus_id": policy_agent["corpus_id"], "page": 2,
        "document_name": PDF.name, "url": PDF.name, "content": "WordStar ran on CP/M.", "score": 1.0,
    }  # fmt: skip
    payload = {
        "answer": answer,
        "references": [{"number": 1, "url": PDF.name, "order": 1}],
        "data_points": [point],
        "groundedness_scores": [
            {"start_idx": 0, "end_idx": len(supported), "score": 0.93},
            {"start_idx": len(supported) + 1, "end_idx": len(answer), "score": 0.12},
        ],
        "groundedness": 0.525,
        "followup_questions": [],
    }
    api(
        "POST",
        f"/v2/api/agent/{policy_agent['id']}/response/log",
        json={
            "chat_thread_id": thread["id"], "user_id": me["id"], "question": "Tell me about WordStar",
            "response": payload, "total_tokens": 10, "prompt_tokens": 8, "completion_tokens": 2,
        },
    )  # fmt: skip
    sign_in(page)
    page.goto(f"/#/agents/{policy_agent['id']}/chat/{thread['id']}")
    flagged = page.locator(".sentence.unsupported")
    expect(flagged).to_have_count(1)
    expect(flagged).to_contain_text(unsupported)
    expect(flagged.locator(".flag")).to_have_text("unsupported")
    expect(page.locator(".sentence:not(.unsupported)")).to_contain_text("WordStar ran on CP/M")
    expect(page.get_by_text("1 unsupported sentence")).to_be_visible()
    screenshot(page, "chat-unsupported-sentence")


def test_agents_are_starred_and_their_settings_saved(page, api: Api, policy_agent):
    extra_corpus = api("POST", "/v2/api/corpus", json={"name": "Extra reading"})
    sign_in(page)
    page.get_by_role("button", name="Star History Bot").first.click()
    starred = page.locator(".section-title", has_text="Starred").locator("xpath=following-sibling::div[1]")
    expect(starred).to_contain_text("History Bot")
    assert [s["agent"]["id"] for s in api("GET", "/v2/api/agent/starred")] == [policy_agent["id"]]

    page.get_by_role("button", name="New agent").click()
    dialog = page.get_by_role("dialog", name="New agent")
    dialog.get_by_label("Name").fill("Console Bot")
    dialog.get_by_label("Who can use it").select_option("Only team")
    dialog.get_by_role("button", name="Create agent").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Console Bot: settings")
    created = api("GET", "/v2/api/agent?query=Console")["agents"]
    assert [(a["agent_name"], a["access"], a["project"]) for a in created] == [
        ("Console Bot", "Only team", policy_agent["project_id"])
    ]

    page.goto(f"/#/agents/{policy_agent['id']}/settings")
    # The agent answers from its corpora: its Rag Tool shows on, switched through the corpora.
    rag = page.locator("#section-tools li", has_text="Rag Tool").get_by_role("switch")
    expect(rag).to_be_checked()
    expect(rag).to_be_disabled()
    instructions = page.get_by_role("textbox", name="Instructions", exact=True)
    instructions.fill("Answer in one paragraph.\nAlways cite the page.")
    page.get_by_role("button", name="Save instructions").click()
    expect(page.locator(".toast", has_text="Instructions saved")).to_be_visible()

    page.get_by_label("Connect a corpus").select_option(label="Extra reading")
    page.get_by_role("button", name="Connect", exact=True).click()
    page.locator("#section-corpora li", has_text="Extra reading").get_by_role("switch").uncheck()
    expect(page.locator(".toast", has_text="Corpus connected")).to_be_visible()
    page.get_by_label("Everyone in the organisation").check()
    page.get_by_role("button", name="Save access").click()
    expect(page.locator(".toast", has_text="Access saved")).to_be_visible()
    screenshot(page, "agent-settings-saved")

    agent = api("GET", f"/v2/api/agent/{policy_agent['id']}")
    assert [i["instruction"] for i in agent["instructions"]] == [
        "Answer in one paragraph.",
        "Always cite the page.",
    ]
    assert agent["access"] == "Public"
    links = {link["corpus"]["id"]: link for link in api("GET", f"/v2/api/agent/{policy_agent['id']}/corpus")}
    assert (
        links[extra_corpus["id"]]["is_enabled"] is False
        and links[policy_agent["corpus_id"]]["is_enabled"] is True
    )
    api("PUT", f"/v2/api/agent/{policy_agent['id']}/access", json={"access": "Only me"})


def test_usage_dashboard_draws_charts_and_opens_call_payloads(page, api: Api, policy_agent):
    # One answer, so there is something to chart.
    api(
        "POST",
        f"/response-service/api/v2/agents/{policy_agent['id']}/responses",
        json={"user_query": QUESTION},
    )
    totals = api("POST", "/v2/api/agent-response/dashboard", json={"group_by": []})["totals"]
    sign_in(page)
    page.goto("/#/usage")
    responses = page.locator(".kpi", has_text="Responses").locator(".value")
    expect(responses).to_have_text(str(totals["responses"]))
    chart = page.get_by_role("figure", name="Responses per day")
    expect(chart.locator("svg rect.bar")).not_to_have_count(0)
    expect(chart.locator("svg")).to_have_attribute("role", "img")
    expect(page.get_by_role("figure", name="Responses by agent")).to_contain_text("History Bot")
    expect(page.get_by_role("figure", name="Model calls by model")).to_contain_text("parley-extractive")
    screenshot(page, "usage-dashboard")

    calls = page.locator("section[aria-labelledby=calls-title] tbody tr")
    expect(calls.first).to_contain_text("parley-extractive")
    page.get_by_label("Feature").select_option("generation")
    expect(calls.first).to_contain_text("generation")
    calls.first.get_by_role("button").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_role("heading", name="Request payload")).to_be_visible()
    expect(dialog.get_by_role("heading", name="Response payload")).to_be_visible()
    expect(dialog).to_contain_text("History Bot")
    screenshot(page, "usage-call-payloads")


def test_admin_creates_an_api_key_shown_once_and_a_user(page, server):
    sign_in(page)
    page.goto("/#/admin/keys")
    expect(page.get_by_role("heading", level=1)).to_have_text("Admin: API keys")
    page.get_by_role("button", name="Create API key").click()
    page.get_by_role("dialog").get_by_label("Name").fill("e2e script")
    page.get_by_role("dialog").get_by_label("Scope").select_option("read_only")
    page.get_by_role("button", name="Create key").click()
    secret = page.get_by_label("API key secret").inner_text().strip()
    screenshot(page, "admin-key-secret")
    headers = {"Ocp-Apim-Subscription-Key": secret}
    assert (
        httpx.get(f"{server.base_url}/v2/api/auth/me", headers=headers).json()["data"]["email"] == ADMIN_EMAIL
    )
    page.get_by_role("button", name="I have saved it").click()
    expect(page.get_by_role("dialog")).to_have_count(0)
    expect(page.get_by_role("row", name=re.compile("e2e script"))).to_contain_text("read only")
    assert secret not in page.content()  # shown once, never again

    page.goto("/#/admin/users")
    page.get_by_role("button", name="Add user").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Email").fill("new.person@console.example.com")
    dialog.get_by_label("First name").fill("New")
    dialog.get_by_label("Password").fill("a-long-password-1")
    dialog.get_by_role("button", name="Add user").click()
    expect(page.get_by_role("row", name=re.compile("new.person@console.example.com"))).to_contain_text(
        "Member"
    )
    login = httpx.post(
        f"{server.base_url}/v2/api/auth/login",
        json={"email": "new.person@console.example.com", "password": "a-long-password-1"},
    )
    assert login.is_success
    screenshot(page, "admin-users")


def test_a_member_sees_only_their_own_keys_and_no_admin_pages(page, api: Api):
    api(
        "POST",
        "/v2/api/user",
        json={"email": "member@console.example.com", "first_name": "Mo", "password": "member-password-1"},
    )
    sign_in(page, "member@console.example.com", "member-password-1")
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="API keys")).to_be_visible()
    expect(nav.get_by_role("link", name="Admin")).to_have_count(0)
    page.goto("/#/admin/users")  # not theirs: the member's own keys instead
    expect(page.get_by_role("heading", level=1)).to_have_text("API keys")
    expect(page.get_by_role("navigation", name="Admin sections")).to_have_count(0)
    expect(page.get_by_text("No API keys yet.")).to_be_visible()
    page.goto("/#/usage")
    expect(page.get_by_text("No agents yet.")).to_be_visible()
    expect(page.get_by_role("heading", name="Model calls")).to_have_count(0)


@pytest.mark.parametrize("viewport", ["laptop", "phone"])
def test_every_page_is_labelled_and_fits_the_screen(browser, server, api: Api, policy_agent, viewport):
    context = browser.new_context(
        viewport=LAPTOP if viewport == "laptop" else PHONE, base_url=server.base_url
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    sign_in(page)
    pages = {
        "agents": "/#/agents",
        "chat": f"/#/agents/{policy_agent['id']}/chat",
        "settings": f"/#/agents/{policy_agent['id']}/settings",
        "corpora": "/#/corpora",
        "corpus": f"/#/corpora/{policy_agent['corpus_id']}",
        "usage": "/#/usage",
        "admin-teams": "/#/admin/teams",
        "admin-llm": "/#/admin/llm",
        "admin-flags": "/#/admin/flags",
    }
    for name, path in pages.items():
        page.goto(path)
        page.locator("main:not([aria-busy])").wait_for()
        page.wait_for_load_state("networkidle")
        assert page.evaluate(A11Y_PROBLEMS) == [], name
        # Nothing wider than the screen: the page never scrolls sideways.
        assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth"), name
        screenshot(page, f"{name}-{viewport}")
    context.close()
    assert not errors, errors


def test_keyboard_reaches_the_main_content_and_the_agent_settings(page, policy_agent):
    sign_in(page)
    page.goto(f"/#/agents/{policy_agent['id']}/settings")
    expect(page.get_by_role("heading", level=1)).to_be_focused()  # focus moves to the new page
    skip = page.get_by_role("link", name="Skip to content")
    skip.focus()
    expect(skip).to_be_in_viewport()  # shown when focused
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()

    # Keyboard only: type a conversation starter, Tab to its button (focus visible), Enter.
    page.get_by_label("New starter").focus()
    page.keyboard.type("How did word processing begin?")
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Add starter")).to_be_focused()
    assert page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle") == "solid"
    page.keyboard.press("Enter")
    expect(page.get_by_role("textbox", name="Starter 1")).to_have_value("How did word processing begin?")


def test_without_javascript_the_page_says_what_to_do(playwright, server):
    # Playwright's own switch only stops scripts; Blink's setting also makes <noscript> render.
    browser = launch(playwright, "--blink-settings=scriptEnabled=false")
    page = browser.new_page(base_url=server.base_url)
    page.goto("/")
    # Playwright's text and role locators skip <noscript>; the rendered text shows it.
    text = page.locator("body").inner_text()
    assert "The Parley console needs JavaScript" in text and "interactive API documentation" in text
    expect(page.locator("noscript a[href='/docs']")).to_be_visible()
    screenshot(page, "no-javascript")
    browser.close()
