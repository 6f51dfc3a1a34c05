"""Discord in each person's language: the real discord.py client against the fake Discord, the real core and
ledger. The language comes from the interaction's locale (the person's client) or their /lang choice; the
slash commands carry description_localizations through discord.py's Translator, their names stay English."""

from __future__ import annotations

import re

import pytest

from bot.config import Settings
from tests.discord.test_end_to_end import core, ledger, model_server  # noqa: F401  # fixtures
from tests.doubles import TrackingCore
from tests.fakes.discord_api import FakeDiscord
from tests.fakes.discord_fixtures import running_bot

# (Discord locale, /help's first line, /spend's first line with a cap of 0, a /model price, the cap refusal)
CLIENTS = [
    (
        "zh-CN",
        "capbot 使用所有者的 LLM 密钥回答问题；每个人都有一份支出额度。",
        "本月已花费 US$0.00，上限 US$0.00；剩余 US$0.00。",
        "openai/gpt-4o-mini — 每百万 token 输入/输出 US$0.15/US$0.6 ✓",
        r"你的额度不够支付一次回答：剩余 US\$0\.00。"
        r"重置时间：\d{4}年\d{1,2}月\d{1,2}日 \d\d:\d\d UTC（.+）。",
    ),
    (
        "es-419",
        "capbot responde con las claves de LLM del propietario; cada persona tiene una asignación de gasto.",
        "Gastado 0,00\xa0US$ este mes de tu límite de 0,00\xa0US$; quedan 0,00\xa0US$.",
        "openai/gpt-4o-mini — 0,15\xa0US$/0,6\xa0US$ por 1M de entrada/salida ✓",
        r"Tu asignación no alcanza para una respuesta: quedan 0,00\xa0US\$\. Se renueva el .+ UTC \(.+\)\.",
    ),
    (
        "fr",
        "capbot répond avec les clés LLM du propriétaire ; "
        "chaque personne dispose d'une enveloppe de dépenses.",
        "Dépensé 0,00\xa0$US ce mois-ci sur votre plafond de 0,00\xa0$US ; il reste 0,00\xa0$US.",
        "openai/gpt-4o-mini — 0,15\xa0$US/0,6\xa0$US par million en entrée/sortie ✓",
        r"Votre enveloppe ne peut pas payer une réponse : il reste 0,00\xa0\$US\. "
        r"Elle se renouvelle le .+ UTC \(.+\)\.",
    ),
]


@pytest.mark.parametrize(("locale", "welcome", "spent", "price", "refused"), CLIENTS)
async def test_a_client_locale_gets_help_spend_model_and_refusals_in_it(
    fake_discord: FakeDiscord,
    discord_settings: Settings,
    core: TrackingCore,  # noqa: F811
    locale: str,
    welcome: str,
    spent: str,
    price: str,
    refused: str,
) -> None:
    await ledger(core).set_cap("discord:51", 0)
    async with running_bot(core, discord_settings, fake_discord):
        person = fake_discord.user(51, "li")
        events = [
            fake_discord.slash(person, "help", locale=locale),
            fake_discord.slash(person, "spend", locale=locale),
            fake_discord.slash(person, "model", locale=locale),
            fake_discord.slash(person, "ask", {"prompt": "hello"}, locale=locale),
        ]
        for n, event in enumerate(events, start=1):
            await fake_discord.dispatch("INTERACTION_CREATE", event)
            await core.wait_handled(n)
    help_, spend, menu, refusal = ("\n".join(fake_discord.shown(e["token"])) for e in events)
    assert help_.splitlines()[0] == welcome
    assert spend.splitlines()[0] == spent
    assert f"  {price}" in menu.splitlines()
    assert re.fullmatch(refused, refusal)
    assert (await ledger(core).summary("discord:51")).spent == 0


async def test_slash_descriptions_are_localized_and_names_stay_english(
    fake_discord: FakeDiscord,
    discord_settings: Settings,
    core: TrackingCore,  # noqa: F811
) -> None:
    async with running_bot(core, discord_settings, fake_discord):
        pass
    synced = {c["name"]: c for commands in fake_discord.commands.values() for c in commands}
    spend, model = synced["spend"], synced["model"]
    assert spend["description"] == "What you have spent and what remains"
    assert spend["description_localizations"] == {
        "zh-CN": "你已花费多少、还剩多少",
        "es-ES": "Lo que has gastado y lo que te queda",
        "es-419": "Lo que has gastado y lo que te queda",
        "fr": "Ce que vous avez dépensé et ce qui reste",
    }
    (option,) = model["options"]
    assert option["name"] == "model"  # what the core reads: never translated
    assert option["description_localizations"]["fr"] == "fournisseur/modèle ; commencez à taper pour chercher"
    assert all(not c.get("name_localizations") for c in synced.values())


async def test_lang_overrides_the_locale_and_persists(
    fake_discord: FakeDiscord,
    discord_settings: Settings,
    core: TrackingCore,  # noqa: F811
) -> None:
    async with running_bot(core, discord_settings, fake_discord):
        person = fake_discord.user(52, "ana")
        chosen = fake_discord.slash(person, "lang", {"language": "zh"}, locale="fr")
        then = fake_discord.slash(person, "new", locale="fr")
        for n, event in enumerate((chosen, then), start=1):
            await fake_discord.dispatch("INTERACTION_CREATE", event)
            await core.wait_handled(n)
    assert fake_discord.shown(chosen["token"]) == ["语言已设置为简体中文。"]
    assert fake_discord.shown(then["token"]) == ["已开始新的对话。"]
    assert (await ledger(core).profile("discord:52")).language == "zh_Hans"
