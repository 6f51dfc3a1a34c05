"""Per-person gateway keys: made by the owner (CLI, API) or by a person in a private chat (/key), shown
once, stored only as a hash, revoked at once, and spending the allowance of the account they belong to."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.__main__ import main
from bot.ledger import KEY_PREFIX, MAX_LIVE_KEYS, Blocked, key_hash
from bot.web import web_app
from tests.harness import CENT, OWNER, Harness, charge, harness, meet, snapshot
from tests.postgres import postgres_url, scratch_schema

BOB, BOB_DC, CAROL = "telegram:2", "discord:5", "discord:3"
TOKEN = "keys-test-admin-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(params=["sqlite", "postgres"])
async def h(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Harness]:
    if request.param == "sqlite":
        async with harness(tmp_path, admin_api_token=TOKEN) as built:
            yield built
        return
    async with (
        scratch_schema(postgres_url()) as url,
        harness(tmp_path, database_url=url, admin_api_token=TOKEN) as built,
    ):
        yield built


def secret_in(text: str) -> str:
    found = [word.rstrip(".,") for word in text.split() if word.startswith(KEY_PREFIX)]
    assert len(found) == 1, text
    return found[0]


async def stored(h: Harness) -> list[dict[str, Any]]:
    return [dict(row) for row in await h.db.fetchall("SELECT * FROM api_keys ORDER BY id")]


async def test_key_owner_finds_a_live_key_and_nothing_for_wrong_or_revoked_ones(h: Harness) -> None:
    issued = await h.ledger.create_key(BOB, "laptop")
    assert issued.secret.startswith(KEY_PREFIX) and len(issued.secret) == len(KEY_PREFIX) + 40
    assert issued.prefix == issued.secret[:12] and issued.secret not in repr(issued)
    assert await h.ledger.key_owner(issued.secret) == BOB
    assert await h.ledger.key_owner(f"  {issued.secret}\n") == BOB
    for wrong in ("", "sk-anything", issued.secret[:-1], issued.secret + "x", KEY_PREFIX + "A" * 500):
        assert await h.ledger.key_owner(wrong) is None, wrong

    # only the hash and the shown prefix are stored: the secret is in no column of any row
    [row] = await stored(h)
    assert row["key_hash"] == key_hash(issued.secret) != issued.secret
    assert (row["prefix"], row["user_id"], row["name"]) == (issued.prefix, BOB, "laptop")
    assert issued.secret not in json.dumps(await snapshot(h.db))
    assert row["last_used_at"] == int(h.clock().timestamp())  # the lookup marked it used

    revoked = await h.ledger.revoke_key(BOB, str(issued.id))
    assert revoked is not None and revoked.revoked_at is not None
    assert await h.ledger.key_owner(issued.secret) is None
    assert await h.ledger.keys(BOB) == []
    assert await h.ledger.revoke_key(BOB, str(issued.id)) is None  # revoking twice changes nothing


async def test_a_key_spends_its_account_linked_identities_included(h: Harness) -> None:
    await meet(h.ledger, BOB, "bob")
    await meet(h.ledger, BOB_DC, "bob_dc")
    await h.ledger.link(BOB, BOB_DC)
    issued = await h.ledger.create_key(BOB_DC, "script")
    owner = await h.ledger.key_owner(issued.secret)
    assert owner == BOB_DC
    await charge(h.ledger, owner, 30 * CENT)  # what the gateway does with the identity it was given
    assert (await h.ledger.summary(BOB)).spent == 30 * CENT
    # either identity of the account sees and may stop the key
    assert [k.id for k in await h.ledger.keys(BOB)] == [issued.id]
    assert await h.ledger.revoke_key(BOB, issued.prefix) is not None
    # a block of the account stops the key's spending as it stops chat
    other = await h.ledger.create_key(BOB, "")
    await h.ledger.set_blocked(BOB, True)
    who = await h.ledger.key_owner(other.secret)
    assert who == BOB
    with pytest.raises(Blocked):
        await charge(h.ledger, who, CENT)


async def test_chat_key_in_private_shows_it_once_and_in_a_group_issues_nothing(h: Harness) -> None:
    before = await snapshot(h.db)
    group = await h.say("/key laptop", user=BOB, private=False)
    assert group.lines == [
        "Send /key to me in a private chat: an API key must not be seen by anyone else. "
        "Nothing was issued here."
    ]
    assert await snapshot(h.db) == before

    made = await h.say("/key laptop", user=BOB)
    assert made.private_lines == made.lines and len(made.lines) == 1
    secret = secret_in(made.last)
    assert "shown only this once" in made.last
    assert await h.ledger.key_owner(secret) == BOB

    listed = await h.say("/key list", user=BOB, private=False)
    assert listed.private_lines == listed.lines
    assert listed.last.startswith("Your keys (1):\n#1 ") and "'laptop'" in listed.last
    assert secret not in listed.last and secret[:12] in listed.last

    # someone else's key is not theirs to revoke; a bad name or a pasted secret is refused, nothing made
    before = await snapshot(h.db)
    assert (await h.say("/key revoke 1", user=CAROL)).last == (
        "1 is not a live key of discord:3; list them to see their ids and prefixes."
    )
    pasted = await h.say(f"/key revoke {secret}", user=CAROL)
    assert secret not in pasted.last and secret[:12] + "…" in pasted.last
    assert "at most 40 characters" in (await h.say("/key " + "x" * 41, user=BOB)).last
    assert "short label" in (await h.say(f"/key {secret}", user=BOB)).last
    assert (await h.say("/key revoke", user=BOB)).last.startswith("Name one key by its number or prefix.")
    assert await snapshot(h.db) == before

    revoked = await h.say("/key revoke #1", user=BOB)
    assert revoked.last.startswith("Revoked #1 ") and "It no longer works." in revoked.last
    assert await h.ledger.key_owner(secret) is None
    assert (await h.say("/key list", user=BOB)).last.startswith("You have no keys.")


async def test_a_blocked_person_gets_no_key_and_a_person_has_at_most_so_many(h: Harness) -> None:
    await h.ledger.set_blocked(CAROL, True)
    before = await snapshot(h.db)
    assert (await h.say("/key", user=CAROL)).last == "You are blocked from using this bot."
    assert await snapshot(h.db) == before

    for _ in range(MAX_LIVE_KEYS):
        await h.ledger.create_key(BOB)
    before = await snapshot(h.db)
    assert (await h.say("/key", user=BOB)).last == (
        f"telegram:2 already has {MAX_LIVE_KEYS} live keys; revoke one before making another."
    )
    assert await snapshot(h.db) == before


async def test_api_creates_lists_and_revokes_keys(h: Harness) -> None:
    await meet(h.ledger, BOB, "bob")
    async with TestClient(TestServer(web_app(h.core, h.settings))) as client:

        async def call(method: str, path: str, **kw: Any) -> tuple[int, Any]:
            async with client.request(method, "/api/v1" + path, headers=AUTH, **kw) as response:
                return response.status, await response.json()

        status, made = await call("POST", "/users/@bob/keys", json={"name": "ci"})
        assert status == 201
        assert (made["user"], made["name"], made["prefix"]) == (BOB, "ci", made["secret"][:12])
        assert await h.ledger.key_owner(made["secret"]) == BOB
        status, listed = await call("GET", f"/users/{BOB}/keys")
        assert status == 200 and [k["id"] for k in listed["keys"]] == [made["id"]]
        assert "secret" not in listed["keys"][0]

        before = await snapshot(h.db)
        for method, path, body, expected in [
            ("POST", f"/users/{BOB}/keys", {"name": "x" * 41}, 400),
            ("POST", f"/users/{BOB}/keys", {"name": 5}, 400),
            ("POST", "/users/@ghost/keys", {}, 404),
            ("DELETE", f"/users/{CAROL}/keys/{made['id']}", None, 404),
            ("DELETE", f"/users/{BOB}/keys/capbot-nope", None, 404),
        ]:
            status, data = await call(method, path, json=body)
            assert status == expected, (path, data)
        assert data["error"]["code"] == "unknown_key"
        assert await snapshot(h.db) == before

        status, revoked = await call("DELETE", f"/users/{BOB}/keys/{made['prefix']}")
        assert status == 200 and revoked["id"] == made["id"] and revoked["revoked_at"] is not None
        assert await h.ledger.key_owner(made["secret"]) is None
        assert (await call("GET", f"/users/{BOB}/keys"))[1] == {"keys": []}


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/capbot.db")
    monkeypatch.setenv("OWNER_IDS", OWNER)
    yield tmp_path


async def _rows(tmp_path: Path) -> list[dict[str, Any]]:
    async with harness(tmp_path) as h:
        await meet(h.ledger, BOB, "bob")
        return await stored(h)


def test_cli_creates_lists_and_revokes_keys(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    asyncio.run(_rows(env))
    assert main(["keys", "create", "@bob", "--name", "laptop"]) == 0
    out, err = capsys.readouterr()
    secret = out.strip()  # stdout is the key alone, for `> key.txt`
    assert secret.startswith(KEY_PREFIX) and secret not in err
    assert err.startswith(f"Key #1 'laptop' for {BOB} ({secret[:12]}…): shown only this once")
    [row] = asyncio.run(_rows(env))
    assert row["key_hash"] == key_hash(secret) and secret not in json.dumps(row)

    assert main(["keys", "list"]) == 0
    listed = capsys.readouterr().out
    assert listed.startswith("1 live keys\n#1 telegram:2 ") and secret not in listed
    assert main(["keys", "list", "@bob"]) == 0
    assert capsys.readouterr().out.startswith("1 live keys spending telegram:2's allowance\n")

    before = asyncio.run(_rows(env))
    for argv, expected in [
        (["revoke", "@bob", "7"], "capbot: 7 is not a live key of telegram:2;"),
        (["revoke", "@ghost", "1"], "capbot: I don't know @ghost"),
        (["create", BOB, "--name", "y" * 41], "capbot: A key name is at most 40 characters."),
    ]:
        assert main(["keys", *argv]) == 1
        captured = capsys.readouterr()
        assert captured.out == "" and len(captured.err.splitlines()) == 1
        assert captured.err.startswith(expected), captured.err
    assert asyncio.run(_rows(env)) == before

    assert main(["keys", "revoke", BOB, secret[:12]]) == 0
    assert capsys.readouterr().out.startswith("Revoked #1 telegram:2 ")
    assert main(["keys", "list"]) == 0
    assert capsys.readouterr().out == "0 live keys\n"
    [row] = asyncio.run(_rows(env))
    assert row["revoked_at"] is not None
