"""/model: show the models the owner has keys for, with prices; pick one (remembered per person)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from bot.commands.base import Command, Context, Services
from bot.i18n import N_, _, number
from bot.incoming import Argument, Menu, MenuGroup, MenuItem, ModelChoice
from bot.ledger import UserProfile
from bot.pricing import Rates, UnpricedModel, describe
from bot.providers.catalog import ProviderSpec
from bot.providers.registry import ProviderNotConfigured, ResolvedModel, UnknownModel
from bot.refusals import UnknownModelChoice
from bot.wording import NO_PRICED_MODEL, NO_PROVIDER


@dataclass(frozen=True)
class PricedModel:
    """A model that can be both called and charged: /ask never starts a call it could not price."""

    resolved: ResolvedModel
    rates: Rates


def priced_model(services: Services, model_id: str) -> PricedModel:
    """A model that is configured and priced, or `UnknownModelChoice` saying which it is not."""
    model_id = model_id.strip()
    try:
        resolved = services.providers.resolve(model_id)
    except (UnknownModel, ProviderNotConfigured) as exc:
        raise UnknownModelChoice(model_id, str(exc)) from None
    try:
        rates = services.pricer.rates(resolved.id, resolved.spec.price_provider)
    except UnpricedModel as unpriced:
        raise UnknownModelChoice(model_id, unpriced.reason) from None
    return PricedModel(resolved, rates)


# Buttons per provider in the menu (OpenRouter lists hundreds; Telegram takes 100 buttons per keyboard).
# Autocomplete and /model <id> reach every priced model, not only these.
MENU_MODELS_PER_PROVIDER = 20


def provider_models(services: Services, spec: ProviderSpec) -> Iterator[tuple[str, Rates]]:
    """The provider's models that have a price, with their rates: its curated ones, then every other model
    OpenRouter lists (once its list is loaded). What the menu offers and what the gateway lists."""
    names = list(spec.models)
    listed = services.pricer.openrouter
    if listed is not None and listed.prices(spec.price_provider):  # OpenRouter: its whole list
        names += [m.id for m in listed.models() if m.id not in spec.models]
    for name in names:
        model_id = f"{spec.name}/{name}"
        try:
            yield model_id, services.pricer.rates(model_id, spec.price_provider)
        except UnpricedModel:
            continue


def _offered(services: Services, spec: ProviderSpec, current: str) -> Iterator[MenuItem]:
    """`provider_models` as menu items, each labelled with its prices."""
    for model_id, rates in provider_models(services, spec):
        mark = " ✓" if model_id == current else ""
        yield MenuItem(f"{model_id} — {describe(rates)}{mark}", f"/model {model_id}")


def catalog_menu(services: Services, current: str) -> Menu:
    """Configured providers, each with its usable models (at most `MENU_MODELS_PER_PROVIDER`): priced in
    full (a positive token price, OpenRouter's list or the owner's price file) or free by design (local
    servers); see `bot.pricing`."""
    groups = []
    for spec in services.providers.configured():
        items = list(_offered(services, spec, current))
        title = spec.title
        if len(items) > MENU_MODELS_PER_PROVIDER:
            title = _("{provider} ({shown} of {count}; send /model id for others)").format(
                provider=spec.title, shown=MENU_MODELS_PER_PROVIDER, count=number(len(items))
            )
            items = items[:MENU_MODELS_PER_PROVIDER]
        if items:
            groups.append(MenuGroup(title, tuple(items)))
    return Menu(
        _("Current model: {model}. Pick one, or send /model provider/model:").format(model=current),
        tuple(groups),
    )


def model_choices(services: Services, query: str, limit: int = 25) -> list[ModelChoice]:
    """The priced models whose id contains what was typed, for autocomplete widgets (all of them, not
    only the menu's first few per provider)."""
    needle = query.strip().lower()
    found = []
    for spec in services.providers.configured():
        for item in _offered(services, spec, ""):
            model_id = item.command.removeprefix("/model ")
            if needle in model_id.lower():
                found.append(ModelChoice(item.label, model_id))
                if len(found) == limit:
                    return found
    return found


async def current_model(services: Services, user: str, profile: UserProfile | None = None) -> str:
    """The person's choice (from `profile` when the caller read it already), else DEFAULT_MODEL; not
    checked here: /ask refuses a choice no longer usable."""
    profile = profile or await services.ledger.profile(user)
    return profile.model or services.settings.default_model


async def model(ctx: Context) -> None:
    """/model alone shows the menu; /model <id> checks the model is usable and priced before saving it."""
    services = ctx.services
    if not ctx.args.strip():
        menu = catalog_menu(services, await current_model(services, ctx.user))
        if menu.groups:
            await ctx.reply.menu(menu)
        else:  # an empty menu would say nothing; say why instead
            await ctx.reply.text(_(NO_PRICED_MODEL if services.providers.configured() else NO_PROVIDER))
        return
    chosen = priced_model(services, ctx.args)
    await services.ledger.set_model(ctx.user, chosen.resolved.id)
    await ctx.reply.text(
        _("Model set to {model} ({prices}).").format(model=chosen.resolved.id, prices=describe(chosen.rates))
    )


MODEL_ID = Argument("model", N_("provider/model; start typing to search"), offers_models=True)
MODEL = Command(
    "model", N_("Show or choose the model"), usage="/model [provider/model]", argument=MODEL_ID, run=model
)
COMMANDS = [MODEL]
