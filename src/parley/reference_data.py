"""Rows every installation has: agent types, built-in tools and global feature flags.

Inserted idempotently after migrations, so a restart changes nothing.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from parley.agents.models import AgentType
from parley.flags.models import FeatureFlag
from parley.tools.models import Tool

AGENT_TYPES = {
    "QnA": "Answers questions from its corpora with cited sources.",
    "Custom": "Follows custom instructions; retrieval is optional.",
    "Chatbot": "Conversational assistant that keeps the thread's context.",
}

BUILTIN_TOOLS = {
    "Rag Tool": ("rag", "Retrieves passages from the agent's corpora."),
    "Attachment Tool": ("attachment", "Reads documents attached to a chat thread."),
}

# name -> (enabled by default, description). Names follow the Ejento sidebar.
FEATURE_FLAGS = {
    "dalle": (False, "Image generation with DALL-E."),
    "share_agent": (True, "Users may share agents with other users."),
    "agent_alias": (True, "Agents may have an email alias."),
    "sharepoint_index": (False, "Index SharePoint sites into corpora."),
    "chat_agent_creation": (True, "Create agents through a chat with the agent builder."),
    "google_oauth": (False, "Sign in with Google."),
    "linkedin_oauth": (False, "Sign in with LinkedIn."),
    "ms_sso_oauth": (False, "Sign in with Microsoft single sign-on."),
    "github_oauth": (False, "Sign in with GitHub."),
}


def ensure_reference_data(session: Session) -> None:
    existing_types = set(session.scalars(select(AgentType.name)))
    for name, description in AGENT_TYPES.items():
        if name not in existing_types:
            session.add(AgentType(name=name, description=description, created_by="System"))

    existing_tools = set(session.scalars(select(Tool.name).where(Tool.org_id.is_(None))))
    for name, (tool_type, description) in BUILTIN_TOOLS.items():
        if name not in existing_tools:
            session.add(Tool(name=name, tool_type=tool_type, description=description, created_by="System"))

    existing_flags = set(session.scalars(select(FeatureFlag.name).where(FeatureFlag.org_id.is_(None))))
    for name, (enabled, description) in FEATURE_FLAGS.items():
        if name not in existing_flags:
            session.add(
                FeatureFlag(name=name, is_enabled=enabled, description=description, created_by="System")
            )
    session.flush()
