"""Agent responses: how each one ended. ``completed`` (the default, and every response written
before this revision) or ``cancelled`` (the client went away mid-stream: what was generated up
to then is kept, with the usage of every model call).

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("agent_responses") as batch:
        batch.add_column(sa.Column("status", sa.String(16), nullable=False, server_default="completed"))


def downgrade() -> None:
    with op.batch_alter_table("agent_responses") as batch:
        batch.drop_column("status")
