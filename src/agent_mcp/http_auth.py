"""Bearer-token protection for the HTTP transport: one static token, compared in constant time."""

from __future__ import annotations

import hmac

from mcp.server.auth.provider import AccessToken, TokenVerifier
from mcp.server.auth.settings import AuthSettings

SCOPE = "agents"


class StaticTokenVerifier(TokenVerifier):
    def __init__(self, token: str) -> None:
        self._token = token.encode()

    async def verify_token(self, token: str) -> AccessToken | None:
        if hmac.compare_digest(token.encode(), self._token):
            return AccessToken(token=token, client_id="agent-mcp-client", scopes=[SCOPE])
        return None


def auth_settings(host: str, port: int) -> AuthSettings:
    """The SDK wants OAuth metadata even for a static token; these URLs only describe this server."""
    base = f"http://{host}:{port}"
    return AuthSettings(
        issuer_url=f"{base}/",  # type: ignore[arg-type]
        resource_server_url=f"{base}/mcp",  # type: ignore[arg-type]
        required_scopes=[SCOPE],
        validate_token_resource=False,
    )
