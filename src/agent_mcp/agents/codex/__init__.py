"""The Codex CLI (codex exec --json) as an agent kind."""
