"""The catalogs stay complete and true to the code: what CI checks so that no line ships untranslated.

- every message the code marks (`_`, `N_`, `ngettext`) is in the template and in every language's catalog,
  and nothing else is (a line added without a translation fails here, naming it);
- every translation is there, none is fuzzy, and each keeps exactly the placeholders of its source;
- each compiled `.mo` is what its `.po` compiles to today (a `.po` edited without recompiling fails);
- every message renders in every language with representative arguments.

When this fails after adding lines: run the three commands of README's "Languages" section (extract,
update, compile), translate what `update` added, and run it again.
"""

from __future__ import annotations

import io
import string
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from bot.i18n import DOMAIN, LANGUAGES, LOCALES, SOURCE, catalog, speaking

ROOT = Path(__file__).resolve().parents[2]
KEYWORDS = {"_": None, "N_": None, "ngettext": (1, 2)}
TRANSLATED = [language for language in LANGUAGES if language != SOURCE]
FIX = "run README's Languages commands (extract, update, compile) and translate what is new"


def _marked_in_code() -> set[str]:
    found: set[str] = set()
    for package in ("bot", "adapters"):
        for _file, _line, message, _comments, _context in extract_from_dir(
            ROOT / package, [("**.py", "python")], keywords=KEYWORDS
        ):
            found.add(message[0] if isinstance(message, tuple) else message)
    return found


def _po(language: str) -> Catalog:
    with open(LOCALES / language / "LC_MESSAGES" / f"{DOMAIN}.po", "rb") as f:
        return read_po(f, locale=language)


def _template() -> Catalog:
    with open(LOCALES / f"{DOMAIN}.pot", "rb") as f:
        return read_po(f)


def _ids(found: Catalog) -> set[str]:
    return {m.id[0] if isinstance(m.id, tuple) else m.id for m in found if m.id}


def _strings(text: str | tuple[str, ...]) -> tuple[str, ...]:
    """A message's forms: one, or one per plural form."""
    return text if isinstance(text, tuple) else (text,)


def _placeholders(text: str) -> set[str]:
    return {name for _lit, name, _spec, _conv in string.Formatter().parse(text) if name is not None}


def test_the_template_holds_exactly_what_the_code_marks() -> None:
    marked, template = _marked_in_code(), _ids(_template())
    assert not marked - template, f"marked in the code but not in capbot.pot ({FIX}): {marked - template}"
    assert not template - marked, f"in capbot.pot but no longer in the code ({FIX}): {template - marked}"


@pytest.mark.parametrize("language", TRANSLATED)
def test_each_catalog_translates_every_message_and_nothing_stale(language: str) -> None:
    po, template = _po(language), _ids(_template())
    assert _ids(po) == template, f"{language}.po differs from capbot.pot ({FIX})"
    untranslated = [
        m.id for m in po if m.id and not all(m.string if isinstance(m.string, tuple) else [m.string])
    ]
    assert not untranslated, f"{language}: untranslated {untranslated}"
    fuzzy = [m.id for m in po if m.id and m.fuzzy]
    assert not fuzzy, f"{language}: fuzzy translations {fuzzy}"
    assert not po.obsolete, f"{language}: obsolete entries {list(po.obsolete)}"


@pytest.mark.parametrize("language", TRANSLATED)
def test_translations_keep_the_placeholders_of_their_source(language: str) -> None:
    for message in _po(language):
        if not message.id:
            continue
        expected = set().union(*map(_placeholders, _strings(message.id)))
        for translated in _strings(message.string):
            assert _placeholders(translated) == expected, f"{language}: {message.id!r} → {translated!r}"


@pytest.mark.parametrize("language", TRANSLATED)
def test_the_compiled_catalog_is_its_po_compiled(language: str) -> None:
    compiled = io.BytesIO()
    write_mo(compiled, _po(language))
    shipped = (LOCALES / language / "LC_MESSAGES" / f"{DOMAIN}.mo").read_bytes()
    assert shipped == compiled.getvalue(), (
        f"{language}.mo is out of date with {language}.po: run pybabel compile"
    )


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_message_renders_in_every_language(language: str) -> None:
    """Each message through the running translator with sample arguments: it formats, it is not the
    English source (except lines that are only placeholders and punctuation), and no brace is left."""
    for message in _template():
        if not message.id:
            continue
        source = message.id[0] if isinstance(message.id, tuple) else message.id
        with speaking(language):
            if isinstance(message.id, tuple):
                shown = catalog(language).ngettext(message.id[0], message.id[1], 3)
            else:
                shown = catalog(language).gettext(source)
        forms = message.id if isinstance(message.id, tuple) else (message.id,)  # a plural's own fields too
        arguments = {name: f"<{name}>" for form in forms for name in _placeholders(form)}
        rendered = shown.format(**arguments)
        assert "{" not in rendered and "}" not in rendered, (language, source)
        words = source
        for name in arguments:
            words = words.replace("{" + name + "}", "")
        has_words = any(c.islower() for c in words)  # not only placeholders, punctuation and "UTC"
        if language != SOURCE and has_words and not source.startswith("/"):
            assert shown != source, f"{language}: {source!r} is shown in English"
