"""Which providers the owner configured, and how to reach a model by its id ("provider/model").

Built once at start from the catalog and the settings: a provider is usable when its key is set (local
servers: when their base URL is set). Each usable provider gets one client object of its wire format,
wrapped in bounded retries, all sharing the process's HTTP session.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

import aiohttp

from bot.config import Settings
from bot.i18n import _
from bot.providers import anthropic, azure, gemini
from bot.providers.anthropic import AnthropicMessages
from bot.providers.base import Provider
from bot.providers.catalog import CATALOG, ProviderSpec
from bot.providers.gemini import GeminiChat
from bot.providers.http import Endpoint
from bot.providers.openai_compat import OpenAIChat
from bot.providers.retry import RetryingProvider


class UnknownModel(LookupError):
    """The id names no provider in the catalog (or is not of the form provider/model)."""


class ProviderNotConfigured(LookupError):
    """The provider exists, but the owner has not configured it."""


@dataclass(frozen=True)
class ResolvedModel:
    """A model id checked against the catalog and the settings, with the client that will serve it."""

    id: str  # "openai/gpt-4o-mini"
    spec: ProviderSpec
    name: str  # the provider's own model name: "gpt-4o-mini"
    provider: Provider


class Providers:
    """The usable providers, built once, so a missing key is found at start rather than mid-answer."""

    def __init__(
        self,
        settings: Settings,
        session: aiohttp.ClientSession,
        extra_specs: Iterable[ProviderSpec] = (),
        *,
        retry_sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._specs = {spec.name: spec for spec in (*CATALOG, *extra_specs)}
        self._clients: dict[str, Provider] = {}
        self._transcribers: dict[str, OpenAIChat] = {}  # the OpenAI-compatible ones also transcribe
        for spec in self._specs.values():
            client = _build(spec, settings, session)
            if isinstance(client, OpenAIChat):
                self._transcribers[spec.name] = client
            if client is not None:
                self._clients[spec.name] = RetryingProvider(
                    client,
                    attempts=settings.provider_retries + 1,
                    base_delay=settings.retry_base_delay,
                    sleep=retry_sleep,
                )

    def configured(self) -> list[ProviderSpec]:
        """Usable providers in catalog order (extra ones, such as the demo, last)."""
        return [spec for name, spec in self._specs.items() if name in self._clients]

    def resolve(self, model_id: str) -> ResolvedModel:
        """`UnknownModel` or `ProviderNotConfigured` with a reason fit for the person who asked."""
        prefix, slash, name = model_id.strip().partition("/")
        if not slash or not prefix or not name:
            raise UnknownModel(_("model ids look like provider/model, for example openai/gpt-4o-mini"))
        spec = self._specs.get(prefix.lower())
        if spec is None:
            known = ", ".join(sorted(self._specs))
            raise UnknownModel(
                _("there is no provider called '{name}' (known: {known})").format(name=prefix, known=known)
            )
        client = self._clients.get(spec.name)
        if client is None:
            raise ProviderNotConfigured(_("{provider} is not set up on this bot").format(provider=spec.title))
        return ResolvedModel(f"{spec.name}/{name}", spec, name, client)

    def transcriber(self, model_id: str) -> tuple[ResolvedModel, OpenAIChat]:
        """The model and the client that transcribes with it: only OpenAI-compatible servers have
        `/audio/transcriptions` (`UnknownModel`/`ProviderNotConfigured` as `resolve`)."""
        resolved = self.resolve(model_id)
        client = self._transcribers.get(resolved.spec.name)
        if client is None:
            raise UnknownModel(f"{resolved.spec.title} has no transcription endpoint")
        return resolved, client


def _build(spec: ProviderSpec, settings: Settings, session: aiohttp.ClientSession) -> Provider | None:
    """A client for `spec`, or None when the settings do not configure it."""
    key = settings.secret(spec.key_env) if spec.key_env else None
    base_override = settings.setting(spec.base_url_env) if spec.base_url_env else None
    if spec.key_env and not key:
        return None
    if spec.configured_without_key and not base_override:
        return None
    base = (base_override or spec.base_url).rstrip("/")
    if not base:
        return None
    if spec.version_path and not base.endswith(spec.version_path):
        base += spec.version_path
    if spec.wire == "anthropic":
        return AnthropicMessages(spec, Endpoint(spec.name, session, anthropic.headers(key or ""), key), base)
    if spec.wire == "gemini":
        return GeminiChat(spec, Endpoint(spec.name, session, gemini.headers(key or ""), key), base)
    if spec.wire == "azure":
        endpoint = Endpoint(spec.name, session, azure.headers(key or ""), key)
        return OpenAIChat(spec, endpoint, azure.url_for(base, settings.azure_openai_api_version))
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    url = base + "/chat/completions"
    return OpenAIChat(spec, Endpoint(spec.name, session, headers, key), lambda model: url)
