"""The store's schema, as the steps that build it: MIGRATIONS[i] takes user_version i to i + 1.

Steps are only ever appended: a store written by an older agent-mcp is brought up to date at
start-up, and one written by a newer agent-mcp is refused (file.py).
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

log = logging.getLogger(__name__)

MIGRATIONS: tuple[str, ...] = (
    # 0 -> 1: agents and their runs
    """
    CREATE TABLE agents (
        name TEXT PRIMARY KEY COLLATE NOCASE,
        role TEXT NOT NULL,
        cwd TEXT NOT NULL,
        options TEXT NOT NULL,
        created_at TEXT NOT NULL,
        session_id TEXT,
        message_count INTEGER NOT NULL DEFAULT 0,
        total_cost_usd REAL NOT NULL DEFAULT 0,
        total_input_tokens INTEGER NOT NULL DEFAULT 0,
        total_output_tokens INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE runs (
        run_id TEXT PRIMARY KEY,
        agent TEXT NOT NULL COLLATE NOCASE,
        message TEXT NOT NULL,
        status TEXT NOT NULL,
        queued_at TEXT NOT NULL,
        started_at TEXT,
        finished_at TEXT,
        response TEXT,
        error TEXT,
        error_kind TEXT
    );
    CREATE INDEX runs_by_agent ON runs (agent, queued_at);
    """,
    # 1 -> 2: run owners (two servers on one store), cache-token totals, the sessions an agent had
    """
    ALTER TABLE runs ADD COLUMN owner TEXT NOT NULL DEFAULT '';
    CREATE INDEX runs_by_status ON runs (status);
    ALTER TABLE agents ADD COLUMN total_cache_creation_input_tokens INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE agents ADD COLUMN total_cache_read_input_tokens INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE sessions (
        agent TEXT NOT NULL COLLATE NOCASE,
        session_id TEXT NOT NULL,
        first_seen TEXT NOT NULL,
        PRIMARY KEY (agent, session_id)
    );
    INSERT INTO sessions (agent, session_id, first_seen)
        SELECT name, session_id, created_at FROM agents WHERE session_id IS NOT NULL;
    """,
    # 2 -> 3: an agent's own git worktree
    """
    ALTER TABLE agents ADD COLUMN worktree TEXT;
    """,
    # 3 -> 4: ask mode: the tools an agent was allowed for good, and the permission requests of a
    # run that ended without a response (JSON lists); the whole text (UTF-8) of an answer too long to
    # hold, whose response keeps its head and tail (a table of its own: any later change to a run's
    # row would rewrite, and so read, the whole of a text in it)
    """
    ALTER TABLE agents ADD COLUMN always_allowed TEXT NOT NULL DEFAULT '[]';
    ALTER TABLE runs ADD COLUMN permission_requests TEXT;
    CREATE TABLE replies (run_id TEXT PRIMARY KEY, text BLOB NOT NULL);
    """,
    # 4 -> 5: runs' transcripts (transcript.py): their events as they happened, in order; commands to
    # the server that owns a run, from another server on the store (commands.py)
    """
    CREATE TABLE events (
        run_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        at TEXT NOT NULL,
        kind TEXT NOT NULL,
        summary TEXT NOT NULL,
        content TEXT NOT NULL,
        chars INTEGER NOT NULL,
        PRIMARY KEY (run_id, seq)
    ) WITHOUT ROWID;
    CREATE TABLE commands (
        id INTEGER PRIMARY KEY,
        run_id TEXT NOT NULL,
        owner TEXT NOT NULL,
        action TEXT NOT NULL,
        payload TEXT NOT NULL,
        asked_at TEXT NOT NULL,
        done_kind TEXT,
        done_message TEXT
    );
    CREATE INDEX commands_by_owner ON commands (owner, done_kind);
    """,
    # 5 -> 6: the SSH host an agent runs on (hosts.py); null: this machine
    """
    ALTER TABLE agents ADD COLUMN host TEXT;
    """,
    # 6 -> 7: what a forged output line could leave behind before the parser checked its values
    # (stream.py), repaired so that no listing fails its schema: a response's cost that was not finite
    # (stored as null) or negative (taken out of its agent's total first), negative token counts; an
    # agent's totals that are not finite or negative, summed again from its kept runs; a session id
    # not in the CLI's UUID form, or one taken over from another agent (the later holder lets go).
    # Sessions are found by id (Sessions.holder).
    """
    CREATE INDEX sessions_by_id ON sessions (session_id);
    UPDATE agents SET total_cost_usd = total_cost_usd - (SELECT coalesce(sum(json_extract(response, '$.cost_usd')), 0)
        FROM runs WHERE runs.agent = agents.name AND response IS NOT NULL AND json_valid(response)
        AND json_type(response, '$.cost_usd') IN ('real', 'integer') AND json_extract(response, '$.cost_usd') < 0);
    UPDATE runs SET response = json_set(response, '$.cost_usd', 0.0) WHERE response IS NOT NULL
        AND json_valid(response) AND (json_type(response, '$.cost_usd') NOT IN ('real', 'integer')
        OR json_extract(response, '$.cost_usd') < 0 OR abs(json_extract(response, '$.cost_usd')) > 1e300);
    UPDATE runs SET response = json_set(response, '$.input_tokens', max(0, json_extract(response, '$.input_tokens')),
        '$.output_tokens', max(0, json_extract(response, '$.output_tokens')),
        '$.cache_creation_input_tokens', max(0, json_extract(response, '$.cache_creation_input_tokens')),
        '$.cache_read_input_tokens', max(0, json_extract(response, '$.cache_read_input_tokens')))
        WHERE response IS NOT NULL AND json_valid(response) AND min(json_extract(response, '$.input_tokens'),
        json_extract(response, '$.output_tokens'), json_extract(response, '$.cache_creation_input_tokens'),
        json_extract(response, '$.cache_read_input_tokens')) < 0;
    UPDATE agents SET
        total_cost_usd = (SELECT coalesce(sum(json_extract(response, '$.cost_usd')), 0) FROM runs
            WHERE runs.agent = agents.name AND response IS NOT NULL AND json_valid(response)),
        total_input_tokens = max(0, total_input_tokens), total_output_tokens = max(0, total_output_tokens),
        total_cache_creation_input_tokens = max(0, total_cache_creation_input_tokens),
        total_cache_read_input_tokens = max(0, total_cache_read_input_tokens)
        WHERE total_cost_usd < 0 OR abs(total_cost_usd) > 1e300 OR min(total_input_tokens, total_output_tokens,
        total_cache_creation_input_tokens, total_cache_read_input_tokens) < 0;
    UPDATE agents SET session_id = NULL WHERE session_id IS NOT NULL
        AND (length(session_id) != 36 OR session_id GLOB '*[^0-9a-f-]*');
    UPDATE agents SET session_id = NULL WHERE session_id IS NOT NULL AND EXISTS (
        SELECT 1 FROM sessions other, sessions own WHERE other.session_id = agents.session_id
        AND other.agent != agents.name AND own.agent = agents.name AND own.session_id = agents.session_id
        AND (other.first_seen < own.first_seen OR (other.first_seen = own.first_seen AND other.rowid < own.rowid)));
    """,
    # 7 -> 8 (#29): the accounts' usage limits, a row per login and window (host '': this machine); the spend
    # ledger (a row per run that got a response; cost_usd null: its CLI reports none), which outlives
    # pruned runs and deleted agents; when the usage limit that ended a run before it started resets
    """
    CREATE TABLE limits (
        host TEXT NOT NULL,
        cli TEXT NOT NULL,
        window TEXT NOT NULL,
        status TEXT NOT NULL,
        resets_at INTEGER,
        utilization REAL,
        seen_at TEXT NOT NULL,
        PRIMARY KEY (host, cli, window)
    ) WITHOUT ROWID;
    CREATE TABLE spend (at TEXT NOT NULL, agent TEXT NOT NULL, cost_usd REAL);
    CREATE INDEX spend_by_time ON spend (at);
    INSERT INTO spend (at, agent, cost_usd) SELECT finished_at, agent, json_extract(response, '$.cost_usd')
        FROM runs WHERE response IS NOT NULL AND json_valid(response) AND finished_at IS NOT NULL;
    ALTER TABLE runs ADD COLUMN resets_at TEXT;
    """,
    # 8 -> 9 (#31): whether an agent's CLI runs in a bubblewrap box
    """
    ALTER TABLE agents ADD COLUMN sandbox INTEGER NOT NULL DEFAULT 0;
    """,
    # 9 -> 10 (#30), more agent CLIs: the CLI an agent runs (agents/: claude, codex, gemini); the running totals of
    # tokens a CLI last reported for a session, for a CLI whose turns report the session's total (codex):
    # a turn's own is its total less this (JSON, AgentResponse's token fields)
    """
    ALTER TABLE agents ADD COLUMN cli TEXT NOT NULL DEFAULT 'claude';
    ALTER TABLE sessions ADD COLUMN usage TEXT;
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)


def migrate(db: sqlite3.Connection, path: Path) -> None:
    """Inside the caller's write transaction, so two servers starting at once migrate once."""
    version = db.execute("PRAGMA user_version").fetchone()[0]  # another server may have done it
    if version == 0:
        log.info("created the store %s (schema version %d)", path, SCHEMA_VERSION)
    for target in range(version, SCHEMA_VERSION):
        if version > 0:
            log.info("migrating %s from schema version %d to %d", path, target, target + 1)
        for statement in MIGRATIONS[target].split(";"):
            if statement.strip():
                db.execute(statement)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
