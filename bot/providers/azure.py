"""Azure OpenAI: the OpenAI wire format behind Azure's URLs and `api-key` header.

Two URL schemes exist. The classic one names the deployment in the path and needs `api-version`
(`{endpoint}/openai/deployments/{deployment}/chat/completions?api-version=2024-10-21`); the newer v1 API
(`{endpoint}/openai/v1/chat/completions`, chosen with `AZURE_OPENAI_API_VERSION=v1` or an endpoint that
already ends in `/openai/v1`) takes the deployment as `model`. In both, capbot's model name is the
deployment name, so the owner should name deployments after the model they serve (for its price).
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote


def headers(key: str) -> dict[str, str]:
    """Azure's `api-key` header instead of OpenAI's bearer token."""
    return {"api-key": key}


def url_for(endpoint: str, api_version: str) -> Callable[[str], str]:
    """The completions URL per deployment, for whichever of the two URL schemes the settings select."""
    base = endpoint.rstrip("/")
    if api_version.lower() == "v1" or base.endswith("/openai/v1"):
        v1 = base if base.endswith("/openai/v1") else base + "/openai/v1"
        return lambda deployment: f"{v1}/chat/completions"

    def classic(deployment: str) -> str:
        return (
            f"{base}/openai/deployments/{quote(deployment, safe='.-_')}/chat/completions"
            f"?api-version={quote(api_version)}"
        )

    return classic
