"""The store: SQLite, so nothing of an agent is lost when the client restarts the server (or kills it).

It imports only `core` (the records it keeps are core/rows.py's) and its own modules; everything
above it (the pool, the dashboard, the doctor, the command line) imports it. Its public face is
database.Store (the parts it is made of: `agents`, `sessions`, `runs`, `events` (transcripts),
`replies` (whole answers), `commands`, and the `file` they share), file.StoreUnusable,
owners (who owns a run) and migrations (the schema); modules named with a leading `_` are its own.

Why it looks like this:
- WAL with synchronous=NORMAL: every committed transaction survives a killed process, and two
  servers (two editor windows) can read while one writes.
- Two connections. Writes go through the writer, always on one worker thread: a write may wait for
  another server's lock (busy_timeout), and that wait must not stall the event loop and every agent
  with it. Reads use the reader on the loop: under WAL a reader never waits for a writer, so a
  listing answers at once even while another server holds the write lock.
- Each finished run is written in one transaction (the run's row, the agent's session and totals,
  the session history), so a crash never leaves half of a run recorded.
- Totals are updated with SQL increments, never by writing back a value read earlier, so two
  servers cannot overwrite each other's counts.
- Every run records its owner (pid and the process's start time, which tells a reused pid apart);
  a queued or running run whose owner is gone was interrupted.
- The schema version is SQLite's user_version; migrations.MIGRATIONS[i] takes version i to i + 1.
- A damaged store is never written to: opening it raises StoreDamaged, which says how to start
  afresh (move the file aside). A new store is built under a temporary name and linked into place
  complete, so an empty file where the store should be is never this server's doing: it is a store
  that was truncated, and is reported as one rather than silently taken for a fresh start.
- One class per job (database.py composes them), each holding the one StoreFile: no part borrows
  another's attributes, and every write of every part goes through the same writer thread.
"""
