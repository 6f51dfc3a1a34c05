"""Settings: the environment and `.env`, validated once into one `Settings` object.

A bad value stops start-up with one line naming the variable (see `load_settings`), never a traceback.
Provider keys are declared here so `.env` files work for them too; the provider catalog names which
variable each provider reads, so a catalog row added later can still find its key in the environment.
"""

from __future__ import annotations

import os
import re
from decimal import Decimal
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Annotated, Literal

from genai_prices.update_prices import DEFAULT_UPDATE_URL
from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.incoming import is_identity

Period = Literal["daily", "weekly", "monthly", "total"]
IdList = Annotated[tuple[str, ...], NoDecode]
ShardIds = Annotated[tuple[int, ...], NoDecode]
Networks = Annotated[tuple[IPv4Network | IPv6Network, ...], NoDecode]


def _split_ids(value: object) -> object:
    """Comma- or space-separated lists, as people write them in an env file."""
    if isinstance(value, str):
        return tuple(part for part in value.replace(",", " ").split() if part)
    return value


_MODEL_ID = re.compile(r"[A-Za-z0-9_.-]+/\S+")
# As the platforms issue them: checked at start, so a pasted fragment fails here, before any connection.
_TOKEN_SHAPES = {
    "telegram_bot_token": (
        re.compile(r"\d+:[A-Za-z0-9_-]{35,}"),
        "not a bot token: @BotFather gives one like 123456789:AAE... (digits, a colon, 35+ characters)",
    ),
    "discord_bot_token": (
        re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+"),
        "not a bot token: the Developer Portal gives one of three dot-separated parts (Bot → Reset Token)",
    ),
}


def _network(text: str) -> IPv4Network | IPv6Network:
    """One `TRUSTED_PROXIES` entry: an address (a network of one) or a network in CIDR notation. IPv4
    written as IPv4-mapped IPv6 becomes IPv4, as `bot.web_proxies` reads peers; a network of everyone is
    refused (every client could then name itself)."""
    try:
        found = ip_network(text)
    except ValueError:
        try:
            meant = ip_network(text, strict=False)
        except ValueError:
            raise ValueError(
                f"{text!r} is not an IP address or network (e.g. 127.0.0.1, ::1, 10.0.0.0/8)"
            ) from None
        raise ValueError(f"{text!r} has host bits set: did you mean {meant}?") from None
    mapped = found.network_address.ipv4_mapped if isinstance(found, IPv6Network) else None
    if mapped is not None and found.prefixlen >= 96:  # a dual-stack socket's way to write IPv4 peers
        found = IPv4Network((mapped, found.prefixlen - 96))
    if found.prefixlen == 0:
        raise ValueError(
            f"{text} trusts every address, so any client could name itself in X-Forwarded-For: name your "
            "proxies' addresses or networks"
        )
    return found


def _url(value: str | None, schemes: tuple[str, ...]) -> str | None:
    """A base URL as the vendor SDKs take it: a scheme and a host, with no trailing slash.

    Joining paths onto the URL must never give `//` (some servers answer 404 for it), so the slash goes.
    """
    if value is None:
        return None
    text = value.strip()
    scheme, sep, rest = text.partition("://")
    if not sep or scheme.lower() not in schemes or not rest.strip("/") or rest.startswith("/"):
        raise ValueError(f"must be a URL starting with {' or '.join(s + '://' for s in schemes)}")
    return text.rstrip("/")


def _secret(value: SecretStr | None) -> SecretStr | None:
    """Pasted keys often carry a stray newline; a blank one means "not set", not an empty key."""
    if value is None:
        return None
    text = value.get_secret_value().strip()
    if any(c.isspace() for c in text):
        raise ValueError("must not contain spaces (paste the key or token alone)")
    return SecretStr(text) if text else None


class ConfigError(Exception):
    """One line for the owner: which variable is wrong and why."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
        env_ignore_empty=True,  # `NAME=` as in .env.example means "use the default"
    )

    # platforms
    telegram_bot_token: SecretStr | None = None
    telegram_base_url: str = "https://api.telegram.org/bot"
    telegram_webhook_url: str | None = None
    telegram_edit_interval: float = Field(default=1.0, gt=0, le=60)
    discord_bot_token: SecretStr | None = None
    discord_guild_ids: IdList = ()
    discord_api_base_url: str = "https://discord.com/api/v10"
    discord_gateway_url: str = "wss://gateway.discord.gg"
    # sharding (discord.py's AutoShardedClient): how many shards the bot has across every process, and
    # which of them this process runs (all of them when unset); neither set means one plain connection
    discord_shard_count: int | None = Field(default=None, ge=1)
    discord_shard_ids: ShardIds = ()
    port: int = Field(default=8080, ge=1, le=65535)
    host: str | None = None  # unset: 127.0.0.1, or all interfaces for a webhook (see bot.web.bind_host)
    # reverse proxies whose X-Forwarded-For and X-Forwarded-Proto are believed (bot.web_proxies); none
    # by default, so the TCP peer is the client
    trusted_proxies: Networks = ()

    # providers: keys and base URL overrides (the catalog holds the defaults)
    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = None
    anthropic_api_key: SecretStr | None = None
    anthropic_base_url: str | None = None
    gemini_api_key: SecretStr | None = None
    gemini_base_url: str | None = None
    mistral_api_key: SecretStr | None = None
    mistral_base_url: str | None = None
    deepseek_api_key: SecretStr | None = None
    deepseek_base_url: str | None = None
    moonshot_api_key: SecretStr | None = None
    moonshot_base_url: str | None = None
    zhipu_api_key: SecretStr | None = None
    zhipu_base_url: str | None = None
    dashscope_api_key: SecretStr | None = None
    dashscope_base_url: str | None = None
    qianfan_api_key: SecretStr | None = None
    qianfan_base_url: str | None = None
    openrouter_api_key: SecretStr | None = None
    openrouter_base_url: str | None = None
    xai_api_key: SecretStr | None = None
    xai_base_url: str | None = None
    groq_api_key: SecretStr | None = None
    groq_base_url: str | None = None
    azure_openai_api_key: SecretStr | None = None
    azure_openai_endpoint: str | None = None
    azure_openai_api_version: str = "2024-10-21"
    ollama_base_url: str | None = None

    # models
    default_model: str = "openai/gpt-4o-mini"
    fallback_models: IdList = ()
    max_output_tokens: int = Field(default=1024, ge=16, le=200_000)
    system_prompt: str = (
        "You are a helpful assistant in a chat. Answer concisely, in the language the person writes in."
    )
    history_tokens: int = Field(default=4000, ge=0, le=2_000_000)
    prices_file: Path | None = None
    prices_update: bool = False  # fetch newer genai-prices data hourly (its UpdatePrices)
    prices_update_url: str = DEFAULT_UPDATE_URL
    request_timeout: float = Field(default=120.0, gt=0, le=3600)
    provider_retries: int = Field(default=2, ge=0, le=10)  # extra attempts on 429/5xx before any text
    retry_base_delay: float = Field(default=0.5, ge=0, le=60)  # backoff start when no Retry-After

    # media: photos and voice notes (unset TRANSCRIPTION_MODEL: OpenAI's when an OpenAI key is set)
    max_media_mb: Decimal = Field(default=Decimal(20), gt=0, le=2000)  # Telegram lets bots download 20 MB
    max_images: int = Field(default=4, ge=0, le=32)  # per message; 0 turns images off
    max_audio_seconds: int = Field(default=300, ge=0, le=7200)  # 0 turns voice notes off
    transcription_model: str | None = None

    # languages: what a person whose client reports none of en, zh, es, fr is answered in
    default_language: Literal["en", "zh_Hans", "es", "fr"] = "en"

    # money and access
    database_url: str = "sqlite:///data/capbot.db"
    database_pool_size: int = Field(default=10, ge=1, le=1000)  # PostgreSQL connections per process
    owner_ids: IdList = ()
    allowed_users: IdList = ()
    default_cap_usd: Decimal = Field(default=Decimal("1.00"), ge=0, le=1_000_000, decimal_places=9)
    cap_period: Period = "monthly"
    global_cap_usd: Decimal | None = Field(default=None, ge=0, le=1_000_000, decimal_places=9)
    rate_limit_per_minute: int = Field(default=10, ge=0, le=10_000)
    max_in_flight: int = Field(default=2, ge=1, le=1000)
    admin_api_token: SecretStr | None = None
    gateway: bool = False  # serve the OpenAI-compatible /v1 on PORT, paid by per-person keys
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    # on SIGTERM or Ctrl-C: how long answers in progress may take to finish before they are cut (and
    # charged what they showed); keep it below the host's stop timeout (Docker's is 10 s by default)
    shutdown_grace_seconds: float = Field(default=20.0, ge=0, le=3600)

    _split = field_validator(
        "discord_guild_ids", "fallback_models", "owner_ids", "allowed_users", mode="before"
    )(_split_ids)

    @field_validator("*")
    @classmethod
    def _by_name(cls, value: object, info: ValidationInfo) -> object:
        """Every secret (by its type) and every base URL (`*_BASE_URL`, the Azure endpoint: by its name) is
        checked here, so a provider added to the fields above is checked without a list to keep in step."""
        name = info.field_name or ""
        if isinstance(value, SecretStr):
            return _secret(value)
        if isinstance(value, str) and (name.endswith("_base_url") or name == "azure_openai_endpoint"):
            return _url(value, ("https", "http"))
        return value

    @field_validator("discord_gateway_url")
    @classmethod
    def _ws_url(cls, value: str) -> str:
        return _url(value, ("wss", "ws")) or value

    @field_validator("prices_update_url")
    @classmethod
    def _prices_url(cls, value: str) -> str:
        return _url(value, ("https", "http")) or value

    @field_validator("telegram_webhook_url")
    @classmethod
    def _webhook_url(cls, value: str | None) -> str | None:
        """Kept as written (its path is where updates arrive); blank means polling."""
        if value is None or not value.strip():
            return None
        _url(value, ("https", "http"))
        return value.strip()

    @field_validator("telegram_bot_token", "discord_bot_token")
    @classmethod
    def _token_shape(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        """The error never repeats the token: it may be a real one pasted into the wrong variable."""
        shape, problem = _TOKEN_SHAPES[info.field_name or ""]
        if value is not None and not shape.fullmatch(value.get_secret_value()):
            raise ValueError(problem)
        return value

    @field_validator("host")
    @classmethod
    def _host(cls, value: str | None) -> str | None:
        """An address or a host name to listen on, as written; blank means "decide for me"."""
        text = (value or "").strip()
        if not text:
            return None
        if "/" in text or any(c.isspace() for c in text):
            raise ValueError("must be an address or a host name to listen on (e.g. 0.0.0.0, ::), not a URL")
        return text.strip("[]")

    @field_validator("owner_ids", "allowed_users")
    @classmethod
    def _identities(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        """Matched exactly against `platform:id`, so a typo would silently lock the owner out."""
        for item in value:
            if not is_identity(item):
                raise ValueError(f"{item!r} is not platform:id (e.g. telegram:123456789, discord:678)")
        return value

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _proxies(cls, value: object) -> object:
        """Addresses and networks, comma- or space-separated; checked here so the one line says why."""
        items = _split_ids(value)
        if isinstance(items, tuple):
            return tuple(_network(item) if isinstance(item, str) else item for item in items)
        return items

    @field_validator("discord_guild_ids")
    @classmethod
    def _guild_ids(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            if not item.isdigit():
                raise ValueError(f"{item!r} is not a guild id (a number, e.g. 123456789012345678)")
        return value

    @field_validator("discord_shard_ids", mode="before")
    @classmethod
    def _shard_numbers(cls, value: object) -> object:
        """Checked here, not by pydantic's int parsing, so the one line says what a shard id is."""
        items = _split_ids(value)
        if isinstance(items, tuple):
            for item in items:
                if not str(item).isdigit():
                    raise ValueError(f"{item!r} is not a shard id (a number from 0, e.g. 0,1)")
        return items

    @field_validator("discord_shard_ids")
    @classmethod
    def _shards_of_count(cls, value: tuple[int, ...], info: ValidationInfo) -> tuple[int, ...]:
        """Each id must be a shard of DISCORD_SHARD_COUNT: Discord closes a connection naming another one,
        and a process whose ids overlap another's would answer that shard's guilds twice."""
        if not value:
            return value
        count = info.data.get("discord_shard_count")
        if count is None:
            raise ValueError("needs DISCORD_SHARD_COUNT, the number of shards across every process")
        for shard in value:
            if shard >= count:
                raise ValueError(
                    f"shard {shard} does not exist: DISCORD_SHARD_COUNT={count} has 0 to {count - 1}"
                )
        for shard in value:
            if value.count(shard) > 1:
                raise ValueError(f"names shard {shard} twice")
        return value

    @field_validator("default_model", "fallback_models")
    @classmethod
    def _model_ids(cls, value: str | tuple[str, ...]) -> str | tuple[str, ...]:
        for item in (value,) if isinstance(value, str) else value:
            if not _MODEL_ID.fullmatch(item):
                raise ValueError(f"{item!r} is not provider/model (e.g. openai/gpt-4o-mini)")
        return value

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        if not value.startswith(("sqlite://", "postgres://", "postgresql://")):
            raise ValueError("must start with sqlite://, postgres:// or postgresql://")
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    def secret(self, env_name: str) -> str | None:
        """The value of a key variable named by the provider catalog, declared here or not."""
        value = getattr(self, env_name.lower(), None)
        if isinstance(value, SecretStr):
            return value.get_secret_value() or None
        if isinstance(value, str):  # a copy made with model_copy(update=...) skips validation
            return value or None
        if value is None and env_name.lower() not in type(self).model_fields:
            return os.environ.get(env_name) or None
        return None

    def setting(self, env_name: str) -> str | None:
        """A plain (non-secret) variable named by the catalog, such as a base URL override."""
        value = getattr(self, env_name.lower(), None)
        if value is None and env_name.lower() not in type(self).model_fields:
            return os.environ.get(env_name) or None
        return value if isinstance(value, str) and value else None

    def secrets(self) -> list[str]:
        """Every configured secret, for the log redaction filter."""
        found = [
            value.get_secret_value()
            for name in type(self).model_fields
            if isinstance(value := getattr(self, name), SecretStr) and value.get_secret_value()
        ]
        found += [v for k, v in os.environ.items() if k.endswith(("_API_KEY", "_TOKEN")) and len(v) >= 8]
        return sorted(set(found), key=len, reverse=True)


def load_settings(**overrides: object) -> Settings:
    """Build the settings, or raise `ConfigError` with one line naming the bad variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        name = str(first["loc"][0]).upper() if first["loc"] else "settings"
        reason = first["msg"].removeprefix("Value error, ")
        raise ConfigError(f"{name}: {reason}") from None
