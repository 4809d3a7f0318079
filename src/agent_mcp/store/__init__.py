"""The SQLite store: nothing of an agent is lost when the server restarts or is killed.

May import: core only.
"""
