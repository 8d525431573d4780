"""Public ids of the Contextual AI surface: UUIDs that encode Parley's integer ids.

Contextual types every id as a UUID, so each Parley row is shown as a deterministic,
reversible UUID (version 4 and RFC 4122 variant bits set, so UUID validators accept it)::

    9a41e7KK-0000-4III-8III-IIIIIIIIIIII

``9a41e7`` marks a Parley id, ``KK`` is the entity kind and the ``I`` digits hold the row id in
hex (72 bits, more than any BIGINT). The same row always has the same id, the kind keeps a
datastore id from being read as an agent id, and nothing is stored to translate. The ids are
not secrets: every lookup still goes through the access policy, so another organisation's id
answers 404 like an unknown one.

Pagination cursors are opaque too: URL-safe base64 of the last id of the page.
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from enum import IntEnum

from parley.db.base import MAX_ID
from parley.errors import InvalidInputError, NotFoundError

_MARK = "9a41e7"
_SHAPE = re.compile(r"^9a41e7([0-9a-f]{2})00004([0-9a-f]{3})8([0-9a-f]{3})([0-9a-f]{12})$")


class Kind(IntEnum):
    AGENT = 1
    DATASTORE = 2
    DOCUMENT = 3
    CONTENT = 4  # a chunk
    CONVERSATION = 5  # a chat thread
    MESSAGE = 6  # an agent response
    FEEDBACK = 7


# What a 404 calls each kind, in Contextual's words.
ENTITY = {
    Kind.AGENT: "Agent",
    Kind.DATASTORE: "Datastore",
    Kind.DOCUMENT: "Document",
    Kind.CONTENT: "Content",
    Kind.CONVERSATION: "Conversation",
    Kind.MESSAGE: "Message",
    Kind.FEEDBACK: "Feedback",
}


def encode(kind: Kind, entity_id: int) -> str:
    digits = f"{entity_id:018x}"
    return str(uuid.UUID(hex=f"{_MARK}{kind:02x}00004{digits[:3]}8{digits[3:6]}{digits[6:]}"))


def decode(kind: Kind, public_id: str) -> int:
    """The row id behind a public id of this kind; anything else is "not found"."""
    entity_id = try_decode(kind, public_id)
    if entity_id is None:
        raise NotFoundError(ENTITY[kind])
    return entity_id


def try_decode(kind: Kind, public_id: str) -> int | None:
    try:
        hex_digits = uuid.UUID(public_id.strip()).hex
    except (ValueError, AttributeError):
        return None
    match = _SHAPE.match(hex_digits)
    if match is None or int(match.group(1), 16) != kind:
        return None
    entity_id = int("".join(match.groups()[1:]), 16)
    return entity_id if 0 < entity_id <= MAX_ID else None


def foreign_uuid() -> str:
    """A random UUIDv4 that can never be mistaken for an encoded Parley id."""
    while True:
        value = str(uuid.uuid4())
        if not value.startswith(_MARK):
            return value


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"after:{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int | None:
    if cursor is None or not cursor.strip():
        return None
    text = cursor.strip()
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raw = ""
    match = re.fullmatch(r"after:([0-9]{1,19})", raw)
    if match is None or int(match.group(1)) > MAX_ID:
        raise InvalidInputError("Invalid cursor.")
    return int(match.group(1))
