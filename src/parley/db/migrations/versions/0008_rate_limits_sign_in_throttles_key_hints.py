"""Rate-limit and sign-in state in tables of their own, and API key hints too short to use.

- ``kore_rate_windows``: the calls of a bot's current minute and hour on the Kore usage-logs
  API, which were kept in ``agents.settings["kore_rate_usage"]``. That key is removed from every
  agent; the windows start over (they last at most an hour).
- ``sign_in_throttles``: failed password sign-ins per account and per client address, and the
  lockouts they earned.
- ``api_keys.prefix`` held a key's first 8 characters, the whole of a key of 8 characters or
  fewer. It keeps the first 4 of a longer key and nothing of a shorter one; new keys store 6
  characters of at least 24 (accounts/secret_policy.py).

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "kore_rate_windows",
        sa.Column("agent_id", ID, nullable=False),
        sa.Column("window", sa.String(8), nullable=False),
        sa.Column("window_start", sa.BigInteger(), nullable=False),
        sa.Column("calls", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["agents.id"], name="fk_kore_rate_windows_agent_id_agents", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("agent_id", "window", name="pk_kore_rate_windows"),
    )
    op.create_table(
        "sign_in_throttles",
        sa.Column("subject", sa.String(400), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_failure_on", sa.DateTime(timezone=True), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("subject", name="pk_sign_in_throttles"),
    )
    op.create_index("ix_sign_in_throttles_last_failure_on", "sign_in_throttles", ["last_failure_on"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "UPDATE agents SET settings = settings - 'kore_rate_usage' "
            "WHERE settings -> 'kore_rate_usage' IS NOT NULL"
        )
    else:
        op.execute(
            "UPDATE agents SET settings = json_remove(settings, '$.kore_rate_usage') "
            "WHERE json_extract(settings, '$.kore_rate_usage') IS NOT NULL"
        )
    op.execute(
        "UPDATE api_keys SET prefix = CASE WHEN length(prefix) >= 8 THEN substr(prefix, 1, 4) ELSE '' END"
    )


def downgrade() -> None:
    op.drop_index("ix_sign_in_throttles_last_failure_on", "sign_in_throttles")
    op.drop_table("sign_in_throttles")
    op.drop_table("kore_rate_windows")
