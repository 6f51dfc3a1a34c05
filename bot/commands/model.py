"""/model: show the models the owner has keys for, with prices; pick one (remembered per person)."""

from __future__ import annotations

from dataclasses import dataclass

from bot.commands.base import Command, Context, Services
from bot.incoming import Argument, Menu, MenuGroup, MenuItem, ModelChoice
from bot.pricing import Rates, UnpricedModel, describe
from bot.providers.registry import ProviderNotConfigured, ResolvedModel, UnknownModel
from bot.refusals import UnknownModelChoice


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


def catalog_menu(services: Services, current: str) -> Menu:
    """Configured providers, each with its curated models that are usable: priced in full (a positive
    token price, or the owner's price file) or free by design (local servers); see `bot.pricing`."""
    groups = []
    for spec in services.providers.configured():
        items = []
        for name in spec.models:
            model_id = f"{spec.name}/{name}"
            try:
                rates = services.pricer.rates(model_id, spec.price_provider)
            except UnpricedModel:
                continue
            mark = " ✓" if model_id == current else ""
            items.append(MenuItem(f"{model_id} — {describe(rates)}{mark}", f"/model {model_id}"))
        if items:
            groups.append(MenuGroup(spec.title, tuple(items)))
    return Menu(f"Current model: {current}. Pick one, or send /model provider/model:", tuple(groups))


def model_choices(services: Services, query: str, limit: int = 25) -> list[ModelChoice]:
    """The models whose id contains what was typed, for autocomplete widgets."""
    needle = query.strip().lower()
    found = []
    for group in catalog_menu(services, "").groups:
        for item in group.items:
            model_id = item.command.removeprefix("/model ")
            if needle in model_id.lower():
                found.append(ModelChoice(item.label, model_id))
    return found[:limit]


async def current_model(services: Services, user: str) -> str:
    """The person's choice, else DEFAULT_MODEL; not checked here: /ask refuses a choice no longer usable."""
    profile = await services.ledger.profile(user)
    return profile.model or services.settings.default_model


async def model(ctx: Context) -> None:
    """/model alone shows the menu; /model <id> checks the model is usable and priced before saving it."""
    services = ctx.services
    if not ctx.args.strip():
        await ctx.reply.menu(catalog_menu(services, await current_model(services, ctx.user)))
        return
    chosen = priced_model(services, ctx.args)
    await services.ledger.set_model(ctx.user, chosen.resolved.id)
    await ctx.reply.text(f"Model set to {chosen.resolved.id} ({describe(chosen.rates)}).")


MODEL_ID = Argument("model", "provider/model; start typing to search", offers_models=True)
MODEL = Command(
    "model", "Show or choose the model", usage="/model [provider/model]", argument=MODEL_ID, run=model
)
COMMANDS = [MODEL]
