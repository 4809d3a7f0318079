"""Processes: the launcher seam (launcher.py) and the local launcher (a PTY, the reaper that ends a
run's whole process tree, the terminal drained, the output framed into lines).

Knows no CLI: what it writes comes framed, what it reads goes out as lines. May import: core.
"""
