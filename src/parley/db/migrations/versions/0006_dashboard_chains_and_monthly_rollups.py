"""User chains and monthly rollups for the dashboard's long ranges, kept in step by triggers, and
filled from migration 0005's daily rollups.

Four tables, one per breakdown that counts distinct users (in all, by agent, by project, by query
source), with a row per (organisation, value, user, UTC day) that has live responses: the count of
those responses and ``next_day``, the next day the same (value, user) pair has any (9999-12-31
when none). The pairs seen in whole days [first, last) are the rows with first <= day < last and
next_day >= last, one per pair, read through the (org_id, next_day) index: about as many rows as
pairs, however long the range (parley/responses/models.py).

Triggers on agent_responses add a live response to its row (a new row takes the next day of its
pair, and the pair's previous row points to it), or take it away (a row left without responses
goes, and the previous row takes its next day). Votes are not kept here. On PostgreSQL the trigger
first takes a transaction-level advisory lock on the response's user (every chain pair includes the
user), so concurrent writers of one pair link the chain one after the other, each seeing the last
one's rows, as SQLite's single writer does anyway.

Two monthly rollups (``response_monthly_user_rollup``, ``response_monthly_agent_rollup``) hold the
measures of migration 0005's per-user and per-agent daily rollups per calendar month (``month``, its
first day), for the whole months of a range; triggers keep them as 0005's keep the daily ones.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
# (table, the dimension beside org_id and user_id, or None for the organisation's)
CHAINS = [
    ("response_user_chain_org", None),
    ("response_user_chain_agent", "agent_id"),
    ("response_user_chain_project", "project_id"),
    ("response_user_chain_source", "query_source"),
]
COUNTED_COLUMNS = "org_id, agent_id, project_id, user_id, query_source, created_on, is_deleted"
CHAIN_LOCK = 727_311_006  # the advisory lock class of the chains' writers (PostgreSQL), per user
# (table, dimensions beside org_id and month, the daily rollup it is filled from)
MONTHLY = [
    ("response_monthly_user_rollup", ["user_id"], "response_daily_user_rollup"),
    (
        "response_monthly_agent_rollup",
        ["agent_id", "project_id", "query_source"],
        "response_daily_agent_rollup",
    ),
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
RESPONSE_COLUMNS = (
    f"{COUNTED_COLUMNS}, total_tokens, prompt_tokens, completion_tokens, cost, latency_ms, cache_hit"
)


def _pair(dimension: str | None) -> list[str]:
    return ["org_id", *([dimension] if dimension else []), "user_id"]


def _column(name: str) -> sa.Column:
    if name == "query_source":
        return sa.Column(name, sa.String(length=50), nullable=False)
    if name in ("day", "next_day", "month"):
        return sa.Column(name, sa.Date(), nullable=False)
    if name in ("org_id", "agent_id", "project_id", "user_id"):
        return sa.Column(name, ID, nullable=False)
    return sa.Column(name, sa.BigInteger(), nullable=False)


def _end(dialect: str) -> str:
    return "'9999-12-31'" if dialect == "sqlite" else "DATE '9999-12-31'"


def _keys(r: str, dialect: str) -> dict[str, str]:
    """The key of response ``r``'s row, by column (as migration 0005 computes it)."""
    day = (
        f"substr({r}.created_on, 1, 10)"
        if dialect == "sqlite"
        else f"CAST({r}.created_on AT TIME ZONE 'UTC' AS DATE)"
    )
    return {
        "org_id": f"{r}.org_id",
        "agent_id": f"{r}.agent_id",
        "project_id": f"coalesce({r}.project_id, 0)",
        "query_source": f"{r}.query_source",
        "user_id": f"{r}.user_id",
        "day": day,
        "month": _month(day, dialect),
    }


def _month(day: str, dialect: str) -> str:
    """The first day of the month of ``day`` (a date expression)."""
    if dialect == "sqlite":
        return f"substr({day}, 1, 8) || '01'"
    return f"CAST(date_trunc('month', {day}) AS DATE)"


def _votes(r: str, flag: str) -> str:
    return f"(SELECT count(*) FROM response_feedback WHERE agent_response_id = {r}.id AND {flag})"


def _measures(r: str, dialect: str, votes: bool) -> dict[str, str]:
    """What response ``r`` adds to its cell, by column (migration 0005's formulas)."""
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


def _apply_monthly(
    table: str, dims: list[str], r: str, dialect: str, sign: int, guard: str, votes: bool
) -> list[str]:
    """Add (sign 1) or take away (-1) response ``r``'s contribution to its month's cell; a cell
    left without responses goes."""
    keys = _keys(r, dialect)
    key_columns = ["org_id", "month", *dims]
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
    """Add or take away vote ``f`` in the month's cell of its response, if that response is live."""
    key_columns = ["org_id", "month", *dims]
    keys = _keys("r", dialect)
    return (
        f"UPDATE {table} SET "
        f"upvotes = upvotes + {sign} * (CASE WHEN {f}.is_upvote THEN 1 ELSE 0 END), "
        f"downvotes = downvotes + {sign} * (CASE WHEN {f}.is_downvote THEN 1 ELSE 0 END) "
        f"WHERE ({', '.join(key_columns)}) IN (SELECT {', '.join(keys[c] for c in key_columns)} "
        f"FROM agent_responses r WHERE r.id = {f}.agent_response_id AND NOT r.is_deleted)"
    )


def _add(table: str, dimension: str | None, r: str, dialect: str, guard: str) -> list[str]:
    """Count response ``r`` in its row; a new row is linked into its pair's chain."""
    keys, pair = _keys(r, dialect), _pair(dimension)
    same_pair = " AND ".join(f"c.{c} = {keys[c]}" for c in pair)
    day = keys["day"]
    columns = ", ".join([*pair, "day", "responses", "next_day"])
    following = f"(SELECT min(c.day) FROM {table} c WHERE {same_pair} AND c.day > {day})"
    previous = f"(SELECT max(c.day) FROM {table} c WHERE {same_pair} AND c.day < {day})"
    return [
        f"INSERT INTO {table} ({columns}) SELECT {', '.join(keys[c] for c in pair)}, {day}, 1, "
        f"coalesce({following}, {_end(dialect)}) WHERE {guard} "
        f"ON CONFLICT ({', '.join([*pair, 'day'])}) DO UPDATE SET responses = {table}.responses + 1",
        # A no-op unless the row is new: the previous row then pointed past it.
        f"UPDATE {table} SET next_day = {day} WHERE "
        + " AND ".join(f"{c} = {keys[c]}" for c in pair)
        + f" AND day = {previous} AND next_day > {day} AND {guard}",
    ]


def _remove(table: str, dimension: str | None, r: str, dialect: str, guard: str) -> list[str]:
    """Take response ``r`` out of its row; a row left empty goes, unlinked from its chain."""
    keys, pair = _keys(r, dialect), _pair(dimension)
    same_pair = " AND ".join(f"c.{c} = {keys[c]}" for c in pair)
    this_row = " AND ".join(f"{c} = {keys[c]}" for c in [*pair, "day"])
    day = keys["day"]
    emptied = f"(SELECT c.next_day FROM {table} c WHERE {same_pair} AND c.day = {day} AND c.responses = 0)"
    previous = f"(SELECT max(c.day) FROM {table} c WHERE {same_pair} AND c.day < {day})"
    return [
        f"UPDATE {table} SET responses = responses - 1 WHERE {this_row} AND {guard}",
        f"UPDATE {table} SET next_day = {emptied} WHERE "
        + " AND ".join(f"{c} = {keys[c]}" for c in pair)
        + f" AND day = {previous} AND {emptied} IS NOT NULL AND {guard}",
        f"DELETE FROM {table} WHERE {this_row} AND responses = 0",
    ]


def _each(make) -> list[str]:  # type: ignore[no-untyped-def]
    return [statement for table, dimension in CHAINS for statement in make(table, dimension)]


def _each_month(make) -> list[str]:  # type: ignore[no-untyped-def]
    return [statement for table, dims, _ in MONTHLY for statement in make(table, dims)]


def _sqlite_triggers() -> list[str]:
    def body(statements: list[str]) -> str:
        return "BEGIN\n" + "".join(f"    {s};\n" for s in statements) + "END"

    def add(r: str, guard: str, votes: bool = True) -> list[str]:
        return _each(lambda t, d: _add(t, d, r, "sqlite", guard)) + _each_month(
            lambda t, d: _apply_monthly(t, d, r, "sqlite", 1, guard, votes)
        )

    def remove(r: str, guard: str) -> list[str]:
        return _each(lambda t, d: _remove(t, d, r, "sqlite", guard)) + _each_month(
            lambda t, d: _apply_monthly(t, d, r, "sqlite", -1, guard, True)
        )

    def votes(f: str, sign: int) -> list[str]:
        return _each_month(lambda t, d: [_move_votes(t, d, f, "sqlite", sign)])

    return [
        "CREATE TRIGGER agent_responses_chain_insert AFTER INSERT ON agent_responses "
        "WHEN NOT NEW.is_deleted " + body(add("NEW", "1", votes=False)),
        f"CREATE TRIGGER agent_responses_chain_update AFTER UPDATE OF {RESPONSE_COLUMNS} ON agent_responses "
        + body(remove("OLD", "NOT OLD.is_deleted") + add("NEW", "NOT NEW.is_deleted")),
        "CREATE TRIGGER agent_responses_chain_delete BEFORE DELETE ON agent_responses "
        "WHEN NOT OLD.is_deleted " + body(remove("OLD", "1")),
        "CREATE TRIGGER response_feedback_monthly_insert AFTER INSERT ON response_feedback "
        + body(votes("NEW", 1)),
        "CREATE TRIGGER response_feedback_monthly_update AFTER UPDATE OF agent_response_id, is_upvote, "
        "is_downvote ON response_feedback " + body(votes("OLD", -1) + votes("NEW", 1)),
        "CREATE TRIGGER response_feedback_monthly_delete AFTER DELETE ON response_feedback "
        + body(votes("OLD", -1)),
    ]


def _postgres_triggers() -> list[str]:
    def block(statements: list[str]) -> str:
        return "".join(f"        {s};\n" for s in statements)

    def add(votes: bool) -> str:
        return block(
            _each(lambda t, d: _add(t, d, "NEW", "postgresql", "true"))
            + _each_month(lambda t, d: _apply_monthly(t, d, "NEW", "postgresql", 1, "true", votes))
        )

    remove = block(
        _each(lambda t, d: _remove(t, d, "OLD", "postgresql", "true"))
        + _each_month(lambda t, d: _apply_monthly(t, d, "OLD", "postgresql", -1, "true", True))
    )

    def votes(f: str, sign: int) -> str:
        return block(_each_month(lambda t, d: [_move_votes(t, d, f, "postgresql", sign)]))

    return [
        f"""CREATE FUNCTION parley_response_chain() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP <> 'INSERT' THEN
            PERFORM pg_advisory_xact_lock({CHAIN_LOCK}, (OLD.user_id % 2147483647)::int);
        END IF;
        IF TG_OP <> 'DELETE' THEN
            PERFORM pg_advisory_xact_lock({CHAIN_LOCK}, (NEW.user_id % 2147483647)::int);
        END IF;
        IF TG_OP <> 'INSERT' AND NOT OLD.is_deleted THEN
{remove}        END IF;
        IF TG_OP = 'INSERT' AND NOT NEW.is_deleted THEN
{add(votes=False)}        ELSIF TG_OP = 'UPDATE' AND NOT NEW.is_deleted THEN
{add(votes=True)}        END IF;
        IF TG_OP = 'DELETE' THEN
            RETURN OLD;
        END IF;
        RETURN NULL;
    END $$""",
        f"""CREATE FUNCTION parley_feedback_monthly() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP <> 'INSERT' THEN
{votes("OLD", -1)}        END IF;
        IF TG_OP <> 'DELETE' THEN
{votes("NEW", 1)}        END IF;
        RETURN NULL;
    END $$""",
        f"""CREATE TRIGGER agent_responses_chain AFTER INSERT OR UPDATE OF {RESPONSE_COLUMNS}
        ON agent_responses FOR EACH ROW EXECUTE FUNCTION parley_response_chain()""",
        """CREATE TRIGGER agent_responses_chain_delete BEFORE DELETE ON agent_responses
        FOR EACH ROW EXECUTE FUNCTION parley_response_chain()""",
        """CREATE TRIGGER response_feedback_monthly
        AFTER INSERT OR UPDATE OF agent_response_id, is_upvote, is_downvote OR DELETE
        ON response_feedback FOR EACH ROW EXECUTE FUNCTION parley_feedback_monthly()""",
    ]


def _backfill(dialect: str) -> list[str]:
    """Each chain from migration 0005's finest rollup, which holds every dimension per day."""
    statements = []
    for table, dimension in CHAINS:
        pair = ", ".join(_pair(dimension))
        statements.append(
            f"INSERT INTO {table} ({pair}, day, responses, next_day) "
            f"SELECT {pair}, day, responses, coalesce(lead(day) OVER (PARTITION BY {pair} ORDER BY day), "
            f"{_end(dialect)}) FROM (SELECT {pair}, day, sum(responses) AS responses "
            f"FROM response_daily_rollup GROUP BY {pair}, day) cells"
        )
    for table, dims, daily in MONTHLY:
        month = _month("day", dialect)
        columns = ", ".join(["org_id", *dims])
        statements.append(
            f"INSERT INTO {table} ({columns}, month, {', '.join(MEASURES)}) "
            f"SELECT {columns}, {month}, {', '.join(f'sum({m})' for m in MEASURES)} "
            f"FROM {daily} GROUP BY {columns}, {month}"
        )
    return statements


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        # No response may be written between the fill and the triggers.
        op.execute("LOCK TABLE agent_responses IN SHARE ROW EXCLUSIVE MODE")
    for table, dimension in CHAINS:
        pair = _pair(dimension)
        op.create_table(
            table,
            *[_column(c) for c in [*pair, "day", "responses", "next_day"]],
            sa.PrimaryKeyConstraint(*pair, "day", name=op.f(f"pk_{table}")),
            sqlite_with_rowid=False,
        )
        others = [c for c in pair if c != "org_id"]
        op.create_index(f"ix_{table}_next", table, ["org_id", "next_day", "day", *others])
    for table, dims, _ in MONTHLY:
        key_columns = ["org_id", "month", *dims]
        op.create_table(
            table,
            *[_column(c) for c in key_columns + MEASURES],
            sa.PrimaryKeyConstraint(*key_columns, name=op.f(f"pk_{table}")),
            sqlite_with_rowid=False,
        )
    for statement in _backfill(dialect) + (
        _sqlite_triggers() if dialect == "sqlite" else _postgres_triggers()
    ):
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name in ("insert", "update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS agent_responses_chain_{name}")
            op.execute(f"DROP TRIGGER IF EXISTS response_feedback_monthly_{name}")
    else:
        op.execute("DROP TRIGGER IF EXISTS response_feedback_monthly ON response_feedback")
        op.execute("DROP FUNCTION IF EXISTS parley_feedback_monthly()")
        op.execute("DROP TRIGGER IF EXISTS agent_responses_chain_delete ON agent_responses")
        op.execute("DROP TRIGGER IF EXISTS agent_responses_chain ON agent_responses")
        op.execute("DROP FUNCTION IF EXISTS parley_response_chain()")
    for table, _, _ in reversed(MONTHLY):
        op.drop_table(table)
    for table, _ in reversed(CHAINS):
        op.drop_table(table)
