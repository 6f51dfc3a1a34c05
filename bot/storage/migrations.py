"""Versioned schema migrations, applied at every start (each version once, in order, in a transaction).

Never edit a released version: append a new one. `{id}` stands for each dialect's auto-increment key.
"""

from __future__ import annotations

from bot.storage.base import Database, DatabaseError

_ID = {"sqlite": "INTEGER PRIMARY KEY AUTOINCREMENT", "postgres": "BIGSERIAL PRIMARY KEY"}

MIGRATIONS: list[list[str]] = [
    # 1: people, holds, charges, running totals, conversation history
    [
        """CREATE TABLE users (
            user_id TEXT PRIMARY KEY,
            model TEXT,
            cap_nanos BIGINT,
            unlimited INTEGER NOT NULL DEFAULT 0,
            period TEXT,
            blocked INTEGER NOT NULL DEFAULT 0,
            username TEXT,
            display_name TEXT,
            held BIGINT NOT NULL DEFAULT 0,
            created_at BIGINT NOT NULL,
            updated_at BIGINT NOT NULL
        )""",
        "CREATE INDEX users_username ON users (username)",
        # the global row: what all open holds add up to; locked after a user's row
        "CREATE TABLE global_state (id INTEGER PRIMARY KEY, held BIGINT NOT NULL DEFAULT 0)",
        "INSERT INTO global_state (id, held) VALUES (1, 0)",
        # running totals: scope is a user id, or '*' for everyone; one row per period key
        """CREATE TABLE totals (
            scope TEXT NOT NULL,
            period_key TEXT NOT NULL,
            spent BIGINT NOT NULL DEFAULT 0,
            PRIMARY KEY (scope, period_key)
        )""",
        """CREATE TABLE holds (
            id {id},
            user_id TEXT NOT NULL,
            amount BIGINT NOT NULL,
            max_output_tokens BIGINT NOT NULL,
            created_at BIGINT NOT NULL
        )""",
        """CREATE TABLE charges (
            id {id},
            user_id TEXT NOT NULL,
            hold_id BIGINT NOT NULL,
            model TEXT NOT NULL,
            input_tokens BIGINT NOT NULL,
            cache_read_tokens BIGINT NOT NULL,
            cache_write_tokens BIGINT NOT NULL,
            output_tokens BIGINT NOT NULL,
            reasoning_tokens BIGINT NOT NULL,
            cost BIGINT NOT NULL,
            estimated INTEGER NOT NULL,
            created_at BIGINT NOT NULL
        )""",
        "CREATE INDEX charges_user_time ON charges (user_id, created_at)",
        """CREATE TABLE messages (
            id {id},
            thread TEXT NOT NULL,
            role TEXT NOT NULL,
            content TEXT NOT NULL,
            created_at BIGINT NOT NULL
        )""",
        "CREATE INDEX messages_thread ON messages (thread, id)",
    ],
    # 2: one person on several platforms (identity → account), one-time link codes, usage reports by time
    [
        """CREATE TABLE links (
            identity TEXT PRIMARY KEY,
            account TEXT NOT NULL,
            linked_at BIGINT NOT NULL
        )""",
        "CREATE INDEX links_account ON links (account)",
        """CREATE TABLE link_codes (
            code_hash TEXT PRIMARY KEY,
            user_id TEXT NOT NULL,
            expires_at BIGINT NOT NULL
        )""",
        "CREATE INDEX charges_time ON charges (created_at)",
    ],
    # 3: several processes on one database: each hold names the process that took it, and each process
    # keeps a heartbeat, so a start-up reconciles only holds whose process is gone
    [
        "ALTER TABLE holds ADD COLUMN instance TEXT",
        "CREATE TABLE instances (id TEXT PRIMARY KEY, seen_at BIGINT NOT NULL)",
    ],
    # 4: a message belongs to a conversation (a chat, a channel, a DM: whatever the adapter keys it by),
    # not to a platform's notion of a thread; the index follows the column's name
    [
        "ALTER TABLE messages RENAME COLUMN thread TO conversation",
        "DROP INDEX messages_thread",
        "CREATE INDEX messages_conversation ON messages (conversation, id)",
    ],
    # 5: a reported cost above the hold charges the hold; what the owner absorbed beyond it is kept with
    # the charge for usage reports (never in the running totals that caps are checked against)
    [
        "ALTER TABLE charges ADD COLUMN absorbed BIGINT NOT NULL DEFAULT 0",
    ],
    # 6: deliveries already claimed (an opaque key per platform event), so an event redelivered after a
    # crash is answered once (`bot/deliveries.py`); kept for a day
    [
        "CREATE TABLE deliveries (delivery TEXT PRIMARY KEY, claimed_at BIGINT NOT NULL)",
        "CREATE INDEX deliveries_claimed_at ON deliveries (claimed_at)",
    ],
    # 7: per-person keys for the gateway (`bot/ledger/keys.py`): only a hash of each key is stored, with a
    # short prefix to tell keys apart; a revoked key keeps its row (revoked_at), so its hash stays taken
    [
        """CREATE TABLE api_keys (
            id {id},
            key_hash TEXT NOT NULL UNIQUE,
            prefix TEXT NOT NULL,
            user_id TEXT NOT NULL,
            name TEXT NOT NULL DEFAULT '',
            created_at BIGINT NOT NULL,
            revoked_at BIGINT,
            last_used_at BIGINT
        )""",
        "CREATE INDEX api_keys_user ON api_keys (user_id)",
    ],
    # 8: usage rollups per UTC day (`day`: its midnight, epoch seconds), per scope (an account, or '*' for
    # everyone) and per model, kept in the transaction of every write that creates or moves charges, so
    # usage reports read a row per day and model instead of scanning charges; backfilled from the charges
    [
        """CREATE TABLE rollups (
            scope TEXT NOT NULL,
            day BIGINT NOT NULL,
            model TEXT NOT NULL,
            requests BIGINT NOT NULL DEFAULT 0,
            input_tokens BIGINT NOT NULL DEFAULT 0,
            cached_tokens BIGINT NOT NULL DEFAULT 0,
            cache_write_tokens BIGINT NOT NULL DEFAULT 0,
            output_tokens BIGINT NOT NULL DEFAULT 0,
            reasoning_tokens BIGINT NOT NULL DEFAULT 0,
            cost BIGINT NOT NULL DEFAULT 0,
            absorbed BIGINT NOT NULL DEFAULT 0,
            PRIMARY KEY (scope, day, model)
        )""",
        *(
            "INSERT INTO rollups (scope, day, model, requests, input_tokens, cached_tokens,"
            " cache_write_tokens, output_tokens, reasoning_tokens, cost, absorbed)"
            f" SELECT {scope}, created_at - created_at % 86400, model, COUNT(*), SUM(input_tokens),"
            " SUM(cache_read_tokens), SUM(cache_write_tokens), SUM(output_tokens), SUM(reasoning_tokens),"
            f" SUM(cost), SUM(absorbed) FROM charges GROUP BY {group}created_at - created_at % 86400, model"
            for scope, group in (("user_id", "user_id, "), ("'*'", ""))
        ),
    ],
    # 9 (i18n): the language a person chose with /lang; NULL follows what their client reports
    ["ALTER TABLE users ADD COLUMN language TEXT"],
    # 10: answers in flight on a database several processes share (`bot/stops.py`): which process streams
    # which answer, for whom, so a Stop pressed in another process reaches it; a row lives as long as its
    # answer (or until its process's heartbeat goes stale)
    [
        """CREATE TABLE answers_in_flight (
            id TEXT PRIMARY KEY,
            user_id TEXT NOT NULL,
            instance TEXT NOT NULL,
            started_at BIGINT NOT NULL
        )""",
    ],
    # 11: the dashboard's sign-in back-off, shared by every process on the database
    # (`bot/dashboard/backoff.py`): one row per client (an IPv4 address or an IPv6 /64) with its wrong
    # tokens, its current wait and whether its latest try met that wait; times in epoch milliseconds; rows
    # untouched for a day are deleted
    [
        """CREATE TABLE sign_in_tries (
            client TEXT PRIMARY KEY,
            misses BIGINT NOT NULL,
            wait_ms BIGINT NOT NULL,
            until_ms BIGINT NOT NULL,
            refused INTEGER NOT NULL,
            tried_ms BIGINT NOT NULL
        )""",
        "CREATE INDEX sign_in_tries_tried_ms ON sign_in_tries (tried_ms)",
    ],
]


SCHEMA_VERSION = len(MIGRATIONS)  # the version this release brings a database to

# The key of the PostgreSQL advisory lock every process takes to migrate ("capbot" in ASCII): eight
# processes starting on a fresh database queue for it instead of creating the same tables at once.
MIGRATION_LOCK = 0x636170626F74


async def migrate(db: Database) -> int:
    """Apply the versions this database lacks; returns the schema version now in force.

    All of it is one transaction, so a failed upgrade leaves the database at the version it had, and the
    bot refuses to start rather than run on half a schema. Processes starting together take turns: on
    PostgreSQL under an advisory lock held until the transaction ends (even `CREATE TABLE IF NOT EXISTS`
    is not safe to run twice at once there), on SQLite inside the exclusive write transaction; whoever
    comes second finds the schema current and goes on at once. A schema newer than this release knows is
    refused: running old code on it could misread money.
    """
    async with db.write() as tx:
        if db.dialect == "postgres":
            await tx.execute("SELECT pg_advisory_xact_lock(?)", MIGRATION_LOCK)
        await tx.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        row = await tx.fetchone("SELECT MAX(version) AS v FROM schema_version")
        current = int(row["v"]) if row and row["v"] is not None else 0
        if current > len(MIGRATIONS):
            raise DatabaseError(
                f"DATABASE_URL: the database is at schema version {current}, and this capbot knows up to "
                f"{len(MIGRATIONS)}; run the newer release (or restore a backup)"
            )
        for version, statements in enumerate(MIGRATIONS, start=1):
            if version <= current:
                continue
            for statement in statements:
                await tx.execute(statement.replace("{id}", _ID[db.dialect]))
            await tx.execute("INSERT INTO schema_version (version) VALUES (?)", version)
            current = version
    return current
