"""Telegram in each person's language: the real Application against the fake Bot API, the real core and
ledger, and the demo model server. The language comes from the sender's `language_code`, or their /lang
choice; the command menus are registered once per language."""

from __future__ import annotations

import json
import re

import pytest

from bot.config import Settings
from bot.owner import parse_cap
from tests.doubles import TrackingCore
from tests.fakes import telegram_api as tg
from tests.fakes.telegram_api import FakeTelegram
from tests.fakes.telegram_fixtures import running_bot
from tests.telegram.test_end_to_end import core, ledger, model_server, services  # noqa: F401  # fixtures

DEFAULT = json.dumps({"type": "default"})

# Amounts as CLDR writes them in each language (\xa0: a no-break space between figure and currency).
# (language_code, /help's first line, /spend's first line and reset line, a /model price, its keyboard's
# way back, the cap refusal)
CLIENTS = [
    (
        "zh-hans",
        "capbot 使用所有者的 LLM 密钥回答问题；每个人都有一份支出额度。",
        "本月已花费 US$0.00，上限 US$1.00；剩余 US$1.00。",
        r"重置时间：\d{4}年\d{1,2}月\d{1,2}日 \d\d:\d\d UTC（.+后）。",
        "每百万 token 输入/输出 US$0.15/US$0.6",
        "« 提供方",
        r"你的额度不够支付一次回答：剩余 US\$0\.00。"
        r"重置时间：\d{4}年\d{1,2}月\d{1,2}日 \d\d:\d\d UTC（.+后）。",
    ),
    (
        "es",
        "capbot responde con las claves de LLM del propietario; cada persona tiene una asignación de gasto.",
        "Gastado 0,00\xa0US$ este mes de tu límite de 1,00\xa0US$; quedan 1,00\xa0US$.",
        r"Se renueva el \d{1,2} \w+ \d{4} \d\d:\d\d UTC \(dentro de .+\)\.",
        "0,15\xa0US$/0,6\xa0US$ por 1M de entrada/salida",
        "« Proveedores",
        r"Tu asignación no alcanza para una respuesta: quedan 0,00\xa0US\$\. Se renueva el \d{1,2} \w+ \d{4} "
        r"\d\d:\d\d UTC \(dentro de .+\)\.",
    ),
    (
        "fr-ca",
        "capbot répond avec les clés LLM du propriétaire ; "
        "chaque personne dispose d'une enveloppe de dépenses.",
        "Dépensé 0,00\xa0$US ce mois-ci sur votre plafond de 1,00\xa0$US ; il reste 1,00\xa0$US.",
        r"Renouvellement le \d{1,2} \w+\.? \d{4} \d\d:\d\d UTC \(dans .+\)\.",
        "0,15\xa0$US/0,6\xa0$US par million en entrée/sortie",
        "« Fournisseurs",
        r"Votre enveloppe ne peut pas payer une réponse : il reste 0,00\xa0\$US\. Elle se renouvelle le "
        r"\d{1,2} \w+\.? \d{4} \d\d:\d\d UTC \(dans .+\)\.",
    ),
]


@pytest.mark.parametrize(("code", "welcome", "spent", "resets", "price", "back", "refused"), CLIENTS)
async def test_a_client_language_gets_help_spend_model_and_refusals_in_it(
    fake_telegram: FakeTelegram,
    telegram_settings: Settings,
    core: TrackingCore,  # noqa: F811
    code: str,
    welcome: str,
    spent: str,
    resets: str,
    price: str,
    back: str,
    refused: str,
) -> None:
    person = tg.user(41, "Li", "li", language_code=code)
    async with running_bot(core, telegram_settings):
        for n, text in enumerate(["/help", "/spend", "/model"], start=1):
            await fake_telegram.push(tg.private_text(person, text))
            await core.wait_handled(n)
        menu = fake_telegram.chat_messages(41)[2]
        await fake_telegram.push(tg.callback(person, menu, tg.buttons(menu)[0]["callback_data"]))  # OpenAI
        await fake_telegram.wait_for(
            lambda: len(tg.buttons(fake_telegram.chat_messages(41)[2])) > 2, "models"
        )
        labels = [b["text"] for b in tg.buttons(fake_telegram.chat_messages(41)[2])]
        await services(core).owner_actions.set_cap("telegram:41", parse_cap("0", None))
        await fake_telegram.push(tg.private_text(person, "/ask hello"))
        await core.wait_handled(4)
    help_, spend, _menu, refusal = (m["text"] for m in fake_telegram.chat_messages(41))
    assert help_.splitlines()[0] == welcome
    assert spend.splitlines()[0] == spent
    assert re.fullmatch(resets, spend.splitlines()[1])
    assert f"openai/gpt-4o-mini — {price} ✓" in labels
    assert labels[-1] == back  # the keyboard's own button, worded in the tapper's language too
    assert re.fullmatch(refused, refusal)
    assert (await ledger(core).summary("telegram:41")).spent == 0


async def test_lang_overrides_the_client_and_persists_and_auto_goes_back(
    fake_telegram: FakeTelegram,
    telegram_settings: Settings,
    core: TrackingCore,  # noqa: F811
) -> None:
    person = tg.user(42, "Ana", "ana", language_code="fr")
    async with running_bot(core, telegram_settings):
        for n, text in enumerate(["/lang es", "/new", "/lang auto", "/new"], start=1):
            await fake_telegram.push(tg.private_text(person, text))
            await core.wait_handled(n)
            if n == 2:
                assert (await ledger(core).profile("telegram:42")).language == "es"
    assert [m["text"] for m in fake_telegram.chat_messages(42)] == [
        "Idioma cambiado a Español.",
        "Nueva conversación iniciada.",
        "Langue : celle qu'indique votre application (ou celle du bot par défaut).",
        "Nouvelle conversation commencée.",
    ]
    assert (await ledger(core).profile("telegram:42")).language is None


async def test_an_unsupported_language_falls_back_to_default_language(
    fake_telegram: FakeTelegram,
    telegram_settings: Settings,
    core: TrackingCore,  # noqa: F811
) -> None:
    services(core).settings = services(core).settings.model_copy(update={"default_language": "fr"})
    async with running_bot(core, telegram_settings):
        await fake_telegram.push(
            tg.private_text(tg.user(43, "Hans", language_code="de"), "/new"),
            tg.private_text(tg.user(44, "Wen", language_code="zh-hant"), "/new"),  # not Simplified Chinese
            tg.private_text(tg.user(45, "Ed", language_code="en"), "/new"),
        )
        await core.wait_handled(3)
    assert [fake_telegram.chat_messages(chat)[0]["text"] for chat in (43, 44, 45)] == [
        "Nouvelle conversation commencée.",
        "Nouvelle conversation commencée.",
        "Started a new conversation.",
    ]


async def test_the_command_menu_is_registered_in_every_language(
    fake_telegram: FakeTelegram,
    telegram_settings: Settings,
    core: TrackingCore,  # noqa: F811
) -> None:
    async with running_bot(core, telegram_settings):
        pass
    summaries = {
        code: {c["command"]: c["description"] for c in fake_telegram.localized_commands[(DEFAULT, code)]}
        for code in ("en", "zh", "es", "fr")
    }
    assert summaries["en"]["spend"] == "What you have spent and what remains"
    assert summaries["zh"]["spend"] == "你已花费多少、还剩多少"
    assert summaries["es"]["spend"] == "Lo que has gastado y lo que te queda"
    assert summaries["fr"]["spend"] == "Ce que vous avez dépensé et ce qui reste"
    assert all(list(s) == list(summaries["en"]) for s in summaries.values())  # names stay as declared
    default = {c["command"]: c["description"] for c in fake_telegram.commands[DEFAULT]}
    assert default == summaries["en"]  # DEFAULT_LANGUAGE for every other client
