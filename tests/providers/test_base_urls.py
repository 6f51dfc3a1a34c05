"""Base URLs follow each vendor SDK's convention, and a trailing slash never yields `//`.

Owners paste base URLs from vendor docs, with or without a final slash. The request must reach the same
path either way: some servers (and proxies) answer 404 for `//chat/completions`. Every catalog row is
driven through the real provider registry against a local server that records the raw request path.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from bot.config import Settings, load_settings
from bot.providers.base import ChatMessage, ChatRequest, ProviderError
from bot.providers.catalog import BY_NAME, CATALOG, ProviderSpec
from bot.providers.http import create_session
from bot.providers.registry import Providers
from bot.web_limits import listening

# path prefix the owner puts in the base URL → path the request must arrive at (model "m")
EXPECTED_WIRE_PATH = {
    "openai": "/v1/chat/completions",
    "anthropic": "/v1/messages",
    "gemini": "/v1beta/models/m:streamGenerateContent",
    "azure": "/openai/deployments/m/chat/completions",
}


def test_defaults_match_the_documented_conventions() -> None:
    settings = load_settings(_env_file=None)
    assert settings.telegram_base_url == "https://api.telegram.org/bot"
    assert settings.discord_api_base_url == "https://discord.com/api/v10"
    assert settings.discord_gateway_url == "wss://gateway.discord.gg"
    assert settings.database_url == "sqlite:///data/capbot.db"
    assert BY_NAME["openai"].base_url == "https://api.openai.com/v1"
    assert BY_NAME["anthropic"].base_url == "https://api.anthropic.com"
    assert BY_NAME["google"].base_url == "https://generativelanguage.googleapis.com"
    assert (BY_NAME["ollama"].base_url, BY_NAME["ollama"].version_path) == ("http://localhost:11434", "/v1")
    for spec in CATALOG:
        assert not spec.base_url.endswith("/"), spec.name
        assert spec.base_url_env == (
            "AZURE_OPENAI_ENDPOINT" if spec.wire == "azure" else f"{spec.name.upper()}_BASE_URL"
        ).replace("GOOGLE_", "GEMINI_")


@pytest.fixture
async def recorder() -> AsyncIterator[tuple[str, list[str]]]:
    """A server that answers every POST with 401 and remembers the exact path it was sent to."""
    paths: list[str] = []

    async def any_post(request: web.Request) -> web.Response:
        paths.append(request.raw_path.partition("?")[0])
        return web.json_response({"error": {"message": "no"}}, status=401)

    app = web.Application()
    app.router.add_route("POST", "/{tail:.*}", any_post)
    async with listening(app) as root:
        yield root, paths


def _prefix(spec: ProviderSpec) -> str:
    """The part of the base URL that the owner writes, by the vendor's convention."""
    if spec.wire == "openai" and not spec.version_path:
        return "/v1"
    return ""


@pytest.mark.parametrize("slashes", ["", "/", "//"], ids=["bare", "slash", "two-slashes"])
@pytest.mark.parametrize("spec", CATALOG, ids=[spec.name for spec in CATALOG])
async def test_a_trailing_slash_on_a_base_url_never_doubles_a_slash(
    recorder: tuple[str, list[str]], spec: ProviderSpec, slashes: str
) -> None:
    root, paths = recorder
    values: dict[str, object] = {spec.base_url_env.lower(): root + _prefix(spec) + slashes}
    if spec.key_env:
        values[spec.key_env.lower()] = "sk-test-0123456789"
    settings: Settings = load_settings(_env_file=None, **values)
    session: aiohttp.ClientSession = create_session(settings)
    try:
        providers = Providers(settings.model_copy(update={"provider_retries": 0}), session)
        provider = providers.resolve(f"{spec.name}/m").provider
        request = ChatRequest("m", (ChatMessage("user", "hi"),), 16)
        with pytest.raises(ProviderError):
            async for _ in provider.stream(request):
                pass
    finally:
        await session.close()
    assert paths == [EXPECTED_WIRE_PATH[spec.wire]]


@pytest.mark.parametrize(
    ("name", "written", "kept"),
    [
        ("TELEGRAM_BASE_URL", "https://api.telegram.org/bot/", "https://api.telegram.org/bot"),
        ("DISCORD_API_BASE_URL", "https://discord.com/api/v10/", "https://discord.com/api/v10"),
        ("OPENAI_BASE_URL", " https://api.openai.com/v1/ ", "https://api.openai.com/v1"),
        ("OLLAMA_BASE_URL", "http://localhost:11434/", "http://localhost:11434"),
    ],
)
def test_settings_keep_base_urls_without_the_trailing_slash(
    monkeypatch: pytest.MonkeyPatch, name: str, written: str, kept: str
) -> None:
    monkeypatch.setenv(name, written)
    assert getattr(load_settings(_env_file=None), name.lower()) == kept
