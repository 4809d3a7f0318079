"""Claude Code (the `claude` CLI): its argv, stream-json frames, stream parser and transcript events."""
