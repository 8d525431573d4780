"""Daily rollups of live agent responses for the dashboard, kept in step by triggers, and filled
from the existing responses.

Four tables with the same measures (responses, token sums, cost in 10^-8 units, latency sum and
count of the responses that measured one, cache hits, up- and downvotes) per UTC day and
organisation, keyed by more or fewer dimensions: none (``response_daily_org_rollup``), the user
(``..._user_rollup``), the agent, project and query source (``..._agent_rollup``), and all four
(``response_daily_rollup``). A response without a project counts under project 0.

Triggers on agent_responses and response_feedback add a live response's contribution, or take it
away (a soft delete, an edit of a counted column, a hard delete), and move votes, in the writing
transaction; a row goes when its last response does. A new response has no votes yet (feedback
needs its id), so inserts count none. Deletes are handled BEFORE the row goes, while its votes
are still there to subtract; the cascaded feedback deletes then find no live response and change
nothing.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
# (table, dimensions beside org_id and day, secondary indexes); the finest table comes first so
# the others are filled from it.
TABLES = [
    (
        "response_daily_rollup",
        ["agent_id", "project_id", "query_source", "user_id"],
        {
            "ix_response_daily_rollup_agent_user": ["agent_id", "user_id", "day"],
            "ix_response_daily_rollup_user_day": ["user_id", "day"],
        },
    ),
    (
        "response_daily_agent_rollup",
        ["agent_id", "project_id", "query_source"],
        {"ix_response_daily_agent_rollup_agent_day": ["agent_id", "day"]},
    ),
    (
        "response_daily_user_rollup",
        ["user_id"],
        {"ix_response_daily_user_rollup_user_day": ["user_id", "day"]},
    ),
    ("response_daily_org_rollup", [], {}),
]
MEASURES = [
    "responses",
    "total_tokens",
    "prompt_tokens",
    "completion_tokens",
    "cost_units",
    "latency_sum",
    "latency_count",
    "cache_hits",
    "upvotes",
    "downvotes",
]
COUNTED_COLUMNS = (
    "org_id, agent_id, project_id, user_id, query_source, created_on, is_deleted, total_tokens, "
    "prompt_tokens, completion_tokens, cost, latency_ms, cache_hit"
)


def _column(name: str) -> sa.Column:
    if name in ("org_id", "agent_id", "project_id", "user_id"):
        return sa.Column(name, ID, nullable=False)
    if name == "day":
        return sa.Column(name, sa.Date(), nullable=False)
    if name == "query_source":
        return sa.Column(name, sa.String(length=50), nullable=False)
    return sa.Column(name, sa.BigInteger(), nullable=False)


def _keys(r: str, dialect: str) -> dict[str, str]:
    """The key of response ``r``'s cell, by column."""
    day = (
        f"substr({r}.created_on, 1, 10)"
        if dialect == "sqlite"
        else f"CAST({r}.created_on AT TIME ZONE 'UTC' AS DATE)"
    )
    return {
        "org_id": f"{r}.org_id",
        "day": day,
        "agent_id": f"{r}.agent_id",
        "project_id": f"coalesce({r}.project_id, 0)",
        "query_source": f"{r}.query_source",
        "user_id": f"{r}.user_id",
    }


def _votes(r: str, flag: str) -> str:
    return f"(SELECT count(*) FROM response_feedback WHERE agent_response_id = {r}.id AND {flag})"


def _measures(r: str, dialect: str, votes: bool) -> dict[str, str]:
    """What response ``r`` adds to its cell, by column (the dashboard's raw formulas)."""
    cost_type = "INTEGER" if dialect == "sqlite" else "BIGINT"
    return {
        "responses": "1",
        "total_tokens": f"{r}.total_tokens",
        "prompt_tokens": f"{r}.prompt_tokens",
        "completion_tokens": f"{r}.completion_tokens",
        "cost_units": f"CAST(round({r}.cost * 100000000) AS {cost_type})",
        "latency_sum": f"CASE WHEN {r}.latency_ms > 0 THEN {r}.latency_ms ELSE 0 END",
        "latency_count": f"CASE WHEN {r}.latency_ms > 0 THEN 1 ELSE 0 END",
        "cache_hits": f"CASE WHEN {r}.cache_hit THEN 1 ELSE 0 END",
        "upvotes": _votes(r, "is_upvote") if votes else "0",
        "downvotes": _votes(r, "is_downvote") if votes else "0",
    }


def _apply(
    table: str, dims: list[str], r: str, dialect: str, sign: int, guard: str, votes: bool
) -> list[str]:
    """Add (sign 1) or take away (-1) response ``r``'s contribution to its cell in ``table``,
    with its votes or (a new response) without; a row left without responses is removed."""
    keys = _keys(r, dialect)
    key_columns = ["org_id", "day", *dims]
    measures = _measures(r, dialect, votes)
    values = [keys[c] for c in key_columns] + [f"{sign} * ({measures[m]})" for m in MEASURES]
    statements = [
        f"INSERT INTO {table} ({', '.join(key_columns + MEASURES)}) SELECT {', '.join(values)} "
        f"WHERE {guard} ON CONFLICT ({', '.join(key_columns)}) DO UPDATE SET "
        + ", ".join(f"{m} = {table}.{m} + excluded.{m}" for m in MEASURES)
    ]
    if sign < 0:
        same_cell = " AND ".join(f"{c} = {keys[c]}" for c in key_columns)
        statements.append(f"DELETE FROM {table} WHERE {same_cell} AND responses = 0")
    return statements


def _move_votes(table: str, dims: list[str], f: str, dialect: str, sign: int) -> str:
    """Add or take away vote ``f`` in the cell of its response, if that response is live."""
    key_columns = ["org_id", "day", *dims]
    keys = _keys("r", dialect)
    return (
        f"UPDATE {table} SET "
        f"upvotes = upvotes + {sign} * (CASE WHEN {f}.is_upvote THEN 1 ELSE 0 END), "
        f"downvotes = downvotes + {sign} * (CASE WHEN {f}.is_downvote THEN 1 ELSE 0 END) "
        f"WHERE ({', '.join(key_columns)}) IN (SELECT {', '.join(keys[c] for c in key_columns)} "
        f"FROM agent_responses r WHERE r.id = {f}.agent_response_id AND NOT r.is_deleted)"
    )


def _each_table(make) -> list[str]:  # type: ignore[no-untyped-def]
    return [statement for table, dims, _ in TABLES for statement in make(table, dims)]


def _sqlite_triggers() -> list[str]:
    def body(statements: list[str]) -> str:
        return "BEGIN\n" + "".join(f"    {s};\n" for s in statements) + "END"

    def apply(r: str, sign: int, guard: str, votes: bool = True) -> list[str]:
        return _each_table(lambda t, d: _apply(t, d, r, "sqlite", sign, guard, votes))

    def votes(f: str, sign: int) -> list[str]:
        return _each_table(lambda t, d: [_move_votes(t, d, f, "sqlite", sign)])

    return [
        "CREATE TRIGGER agent_responses_rollup_insert AFTER INSERT ON agent_responses "
        "WHEN NOT NEW.is_deleted " + body(apply("NEW", 1, "1", votes=False)),
        f"CREATE TRIGGER agent_responses_rollup_update AFTER UPDATE OF {COUNTED_COLUMNS} ON agent_responses "
        + body(apply("OLD", -1, "NOT OLD.is_deleted") + apply("NEW", 1, "NOT NEW.is_deleted")),
        "CREATE TRIGGER agent_responses_rollup_delete BEFORE DELETE ON agent_responses "
        "WHEN NOT OLD.is_deleted " + body(apply("OLD", -1, "1")),
        "CREATE TRIGGER response_feedback_rollup_insert AFTER INSERT ON response_feedback "
        + body(votes("NEW", 1)),
        "CREATE TRIGGER response_feedback_rollup_update AFTER UPDATE OF agent_response_id, is_upvote, "
        "is_downvote ON response_feedback " + body(votes("OLD", -1) + votes("NEW", 1)),
        "CREATE TRIGGER response_feedback_rollup_delete AFTER DELETE ON response_feedback "
        + body(votes("OLD", -1)),
    ]


def _postgres_triggers() -> list[str]:
    def block(statements: list[str]) -> str:
        return "".join(f"        {s};\n" for s in statements)

    def apply(r: str, sign: int, votes: bool) -> str:
        return block(_each_table(lambda t, d: _apply(t, d, r, "postgresql", sign, "true", votes)))

    def votes(f: str, sign: int) -> str:
        return block(_each_table(lambda t, d: [_move_votes(t, d, f, "postgresql", sign)]))

    return [
        f"""CREATE FUNCTION parley_response_rollup() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP <> 'INSERT' AND NOT OLD.is_deleted THEN
{apply("OLD", -1, votes=True)}        END IF;
        IF TG_OP = 'INSERT' AND NOT NEW.is_deleted THEN
{apply("NEW", 1, votes=False)}        ELSIF TG_OP = 'UPDATE' AND NOT NEW.is_deleted THEN
{apply("NEW", 1, votes=True)}        END IF;
        IF TG_OP = 'DELETE' THEN
            RETURN OLD;
        END IF;
        RETURN NULL;
    END $$""",
        f"""CREATE FUNCTION parley_feedback_rollup() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP <> 'INSERT' THEN
{votes("OLD", -1)}        END IF;
        IF TG_OP <> 'DELETE' THEN
{votes("NEW", 1)}        END IF;
        RETURN NULL;
    END $$""",
        f"""CREATE TRIGGER agent_responses_rollup AFTER INSERT OR UPDATE OF {COUNTED_COLUMNS}
        ON agent_responses FOR EACH ROW EXECUTE FUNCTION parley_response_rollup()""",
        """CREATE TRIGGER agent_responses_rollup_delete BEFORE DELETE ON agent_responses
        FOR EACH ROW EXECUTE FUNCTION parley_response_rollup()""",
        """CREATE TRIGGER response_feedback_rollup
        AFTER INSERT OR UPDATE OF agent_response_id, is_upvote, is_downvote OR DELETE
        ON response_feedback FOR EACH ROW EXECUTE FUNCTION parley_feedback_rollup()""",
    ]


def _backfill(dialect: str) -> list[str]:
    """The finest table from the live responses and their votes; the others from it."""
    finest, finest_dims, _ = TABLES[0]
    keys = _keys("r", dialect)
    measures = _measures("r", dialect, votes=False)
    measures["upvotes"], measures["downvotes"] = "coalesce(v.upvotes, 0)", "coalesce(v.downvotes, 0)"
    key_columns = ["org_id", "day", *finest_dims]
    statements = [
        f"INSERT INTO {finest} ({', '.join(key_columns + MEASURES)}) "
        f"SELECT {', '.join(keys[c] for c in key_columns)}, "
        + ", ".join(f"sum({measures[m]})" for m in MEASURES)
        + " FROM agent_responses r LEFT JOIN (SELECT agent_response_id, "
        "sum(CASE WHEN is_upvote THEN 1 ELSE 0 END) AS upvotes, "
        "sum(CASE WHEN is_downvote THEN 1 ELSE 0 END) AS downvotes "
        "FROM response_feedback GROUP BY agent_response_id) v ON v.agent_response_id = r.id "
        f"WHERE NOT r.is_deleted GROUP BY {', '.join(keys[c] for c in key_columns)}"
    ]
    for table, dims, _ in TABLES[1:]:
        columns = ", ".join(["org_id", "day", *dims])
        statements.append(
            f"INSERT INTO {table} ({columns}, {', '.join(MEASURES)}) "
            f"SELECT {columns}, {', '.join(f'sum({m})' for m in MEASURES)} FROM {finest} GROUP BY {columns}"
        )
    return statements


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        # No response or vote may be written between the fill and the triggers.
        op.execute("LOCK TABLE agent_responses, response_feedback IN SHARE ROW EXCLUSIVE MODE")
    for table, dims, indexes in TABLES:
        key_columns = ["org_id", "day", *dims]
        op.create_table(
            table,
            *[_column(c) for c in key_columns + MEASURES],
            sa.PrimaryKeyConstraint(*key_columns, name=op.f(f"pk_{table}")),
            sqlite_with_rowid=False,
        )
        for name, columns in indexes.items():
            op.create_index(name, table, columns)
    for statement in _backfill(dialect) + (
        _sqlite_triggers() if dialect == "sqlite" else _postgres_triggers()
    ):
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name in ("insert", "update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS agent_responses_rollup_{name}")
            op.execute(f"DROP TRIGGER IF EXISTS response_feedback_rollup_{name}")
    else:
        op.execute("DROP TRIGGER IF EXISTS response_feedback_rollup ON response_feedback")
        op.execute("DROP TRIGGER IF EXISTS agent_responses_rollup_delete ON agent_responses")
        op.execute("DROP TRIGGER IF EXISTS agent_responses_rollup ON agent_responses")
        op.execute("DROP FUNCTION IF EXISTS parley_feedback_rollup()")
        op.execute("DROP FUNCTION IF EXISTS parley_response_rollup()")
    for table, _, _ in reversed(TABLES):
        op.drop_table(table)
