"""What every layer shares: the models at the boundary, errors, settings, the clock, checks of input,
the plain rows the store keeps, transcript entries, the child environment, long strings.

May import: nothing of agent_mcp outside core (import-linter holds it to that).
"""
