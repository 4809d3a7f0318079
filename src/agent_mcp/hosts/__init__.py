"""Where agents work: SSH links and the SSH launcher (which wraps the local one), machines (here or a
host) for git and paths, worktrees, the roots an agent's paths are held to, and places.py, which
picks an agent's launcher and workplace.

May import: processes (the SSH launcher builds on the local one), core.
"""
