"""What start-up tells the owner, in the owner's words: a setting that can't work, a platform out of reach.

A bot that starts with no provider key, or with a DEFAULT_MODEL whose provider has no key, runs and then
refuses every question; a warning at start names the variable to set instead. A platform that can't be
reached at start stops the process with one line saying so; the base-URL variable is named only when the
owner set it, since otherwise it is not what is wrong (the network is). A long-running process says
where its SQLite ledger is, since a relative path depends on the directory it was started from.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from bot.config import Settings
from bot.providers.catalog import CATALOG
from bot.providers.registry import ProviderNotConfigured, Providers, UnknownModel


def ledger_location(database_url: str) -> str | None:
    """Where a SQLite ledger is, for the log: `sqlite:///data/capbot.db` is relative to the working
    directory (four slashes for an absolute path), so a service started from elsewhere would quietly open
    an empty ledger. None for PostgreSQL and in-memory databases."""
    if not database_url.startswith("sqlite://"):
        return None
    path = database_url.removeprefix("sqlite://").removeprefix("/")
    if path in ("", ":memory:"):
        return None
    if Path(path).is_absolute():
        return f"ledger at {path}"
    return f"ledger at {Path.cwd() / path} (relative to the working directory {Path.cwd()})"


class PlatformUnreachable(Exception):
    """A chat platform could not be reached at start: one line for the owner, not a configuration error."""


def unreachable(
    platform: str, url: str, settings: Settings, variable: str, cause: str
) -> PlatformUnreachable:
    """ "cannot reach Telegram at api.telegram.org (ConnectError: ...)", naming `variable` only when the
    owner changed it from its default (then it may be the cause)."""
    host = urlsplit(url).netloc or url
    line = f"cannot reach {platform} at {host} ({cause})"
    default = type(settings).model_fields[variable.lower()].default
    if getattr(settings, variable.lower()) != default:
        line += f"; {variable} is set to {url}: check it"
    else:
        line += "; check this machine's network connection"
    return PlatformUnreachable(line)


def model_warnings(settings: Settings, providers: Providers) -> list[str]:
    """One line per model setting that can't work (no key for its provider), or one line when no provider
    is set up at all; empty when all is well."""
    if not providers.configured():
        keys = ", ".join(spec.key_env for spec in CATALOG if spec.key_env)
        return [
            f"no provider is set up: set one of {keys} (or OLLAMA_BASE_URL for a local server); "
            "until then every question is refused and /model offers no model"
        ]
    specs = {spec.name: spec for spec in CATALOG}
    named = [("DEFAULT_MODEL", settings.default_model)]
    named += [("FALLBACK_MODELS", model_id) for model_id in settings.fallback_models]
    found = []
    for variable, model_id in named:
        then = "people who have not picked a model get no answer"
        if variable == "FALLBACK_MODELS":
            then = "skipped"
        try:
            providers.resolve(model_id)
        except ProviderNotConfigured:
            spec = specs[model_id.partition("/")[0].lower()]
            needs = spec.key_env or spec.base_url_env
            found.append(f"{variable}: {model_id} needs {needs}, which is not set ({then})")
        except UnknownModel as exc:
            found.append(f"{variable}: {model_id}: {exc} ({then})")
    return found
