"""agent-mcp driving the real `claude` CLI logged in to a claude.ai subscription (an OAuth token), against
tests/mock_api.py with an Account whose usage limits the test sets (issue #29).

Only such a login makes the CLI read the API's anthropic-ratelimit-unified-* headers: with an API key
it writes no rate_limit_event and takes every 429 for a server throttle. The token is a dummy one;
the CLI sends it to the mock as it would to the API. What the CLI 2.1.332 writes in each limit
state is in tests/fixtures/40_* to 50_* (captured against the same mock).

    async def test_...(subscription, tmp_path, no_leaks):
        env, api = subscription
        api.account = Account(status="rejected", resets_at=int(time.time()) + 60)
        async with connect(env) as client:
            ...

A test module takes the fixture by importing it (`from real_limits import subscription`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from helpers import REAL_CLIENTS, real_client
from mock_api import Account, MockAnthropic
from test_real_cli import QUIET

OAUTH_TOKEN = "sk-ant-oat01-dummy"
"""The shape of a claude.ai token (`claude setup-token` makes the real ones); the mock takes any."""


@contextmanager
def subscription_server(
    claude_env: dict[str, str], account: Account | None = None
) -> Iterator[tuple[dict, MockAnthropic]]:
    """The environment to start agent-mcp with (the real CLI, logged in with an OAuth token and no API
    key, talking to the mock) and the running mock, its account allowed unless one is given. The
    account can be changed between turns (api.account = ...): it is the account's state, not a message's."""
    real_client("claude", "the real claude CLI")
    with MockAnthropic() as api:
        api.account = account if account is not None else Account()
        env = {name: value for name, value in claude_env.items() if name != "ANTHROPIC_API_KEY"}
        env.update(QUIET, AGENT_MCP_CLAUDE_BIN=str(REAL_CLIENTS / "claude"), ANTHROPIC_BASE_URL=api.url,
                   CLAUDE_CODE_OAUTH_TOKEN=OAUTH_TOKEN)  # fmt: skip
        yield env, api


@pytest.fixture
def subscription(claude_env: dict[str, str]) -> Iterator[tuple[dict, MockAnthropic]]:
    """subscription_server() for the length of a test, its account allowed until the test says otherwise."""
    with subscription_server(claude_env) as pair:
        yield pair
