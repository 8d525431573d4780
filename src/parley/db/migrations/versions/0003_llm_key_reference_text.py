"""LLM configs: the API key reference becomes unbounded text (an encrypted provider key does not
fit in 200 characters once the key passes ~80).

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


# SQLite does not enforce VARCHAR lengths, and rebuilding a table other tables reference is
# not worth it there: only PostgreSQL changes.


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column("llm_configs", "api_key_ref", type_=sa.Text(), existing_type=sa.String(200))


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column("llm_configs", "api_key_ref", type_=sa.String(200), existing_type=sa.Text())
