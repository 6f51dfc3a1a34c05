"""/link: one-time codes and merging two identities into one allowance with no charge lost."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.ledger import CODE_TTL, LinkRefused, OwnerProtected, period_key
from tests.doubles import RecordingReply
from tests.harness import (
    CENT,
    OWNER,
    Harness,
    charge,
    check_invariants,
    harness,
    meet,
    snapshot,
)
from tests.postgres import postgres_url, scratch_schema

TG, DC = "telegram:2", "discord:3"


@pytest.fixture(params=["sqlite", "postgres"])
async def h(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Harness]:
    if request.param == "sqlite":
        async with harness(tmp_path) as built:
            yield built
        return
    async with scratch_schema(postgres_url()) as url, harness(tmp_path, database_url=url) as built:
        yield built


def code_in(reply: RecordingReply) -> str:
    return reply.last.split("Your link code is ", 1)[1].split(".", 1)[0]


async def test_link_code_merges_two_allowances_with_no_charge_lost(h: Harness) -> None:
    await meet(h.ledger, TG, "tg")
    assert (await h.say("/cap telegram:2 5 weekly")).last.startswith("Cap set.")
    await charge(h.ledger, TG, 30 * CENT, "openai/gpt-4o")
    await charge(h.ledger, DC, 45 * CENT, "openai/gpt-4o-mini")
    h.clock.advance(hours=1)
    await charge(h.ledger, DC, 5 * CENT, "openai/gpt-4o-mini")
    before = await snapshot(h.db)
    global_before = [r for r in before["totals"] if r["scope"] == "*"]

    given = await h.say("/link", user=TG)
    assert given.private_lines == given.lines and len(given.lines) == 1
    code = code_in(given)
    done = await h.say(f"/link {code.lower()}", user=DC)
    assert done.last.startswith("Linked telegram:2, discord:3: one allowance.")

    # both identities now read the same account: the issuer's cap and period, the sum of both spends
    for who in (TG, DC):
        summary = await h.ledger.summary(who)
        assert (summary.user, summary.cap, summary.period) == (TG, 5 * 100 * CENT, "weekly")
        assert summary.spent == 80 * CENT
    week = period_key("weekly", h.clock())
    totals = {(r["scope"], r["period_key"]): int(r["spent"]) for r in (await snapshot(h.db))["totals"]}
    assert totals[(TG, week)] == 80 * CENT
    assert not any(scope == DC for scope, _ in totals)
    assert [r for r in (await snapshot(h.db))["totals"] if r["scope"] == "*"] == global_before
    rows = await h.db.fetchall("SELECT user_id, cost FROM charges ORDER BY id")
    assert [(r["user_id"], int(r["cost"])) for r in rows] == [
        (TG, 30 * CENT),
        (TG, 45 * CENT),
        (TG, 5 * CENT),
    ]
    await check_invariants(h.ledger)

    # new spending by either identity lands on the one account
    await charge(h.ledger, DC, 1 * CENT)
    assert (await h.ledger.summary(TG)).spent == 81 * CENT
    await check_invariants(h.ledger)

    # the code was single use
    again = await h.say(f"/link {code}", user="telegram:8")
    assert "wrong, used or expired" in again.last


async def test_link_refusals_change_nothing(h: Harness) -> None:
    await charge(h.ledger, TG, 10 * CENT)
    await charge(h.ledger, DC, 20 * CENT)
    code = code_in(await h.say("/link", user=TG))
    before = await snapshot(h.db)

    assert "not from this one" in (await h.say(f"/link {code}", user=TG)).last
    assert "wrong, used or expired" in (await h.say("/link ABCD-EFGH", user=DC)).last
    assert "not a link code" in (await h.say("/link hello", user=DC)).last
    assert "for the bot's owner only" in (await h.say("/link telegram:2 discord:3", user=DC)).last
    assert await snapshot(h.db) == before

    # an answer in flight on the joining side: refused, and the code still works afterwards
    from decimal import Decimal

    from bot.ledger import Quote

    hold = await h.ledger.reserve(DC, Quote(CENT, Decimal(0), 100, 16))
    before = await snapshot(h.db)
    assert "still in progress" in (await h.say(f"/link {code}", user=DC)).last
    assert await snapshot(h.db) == before
    await h.ledger.release(hold)
    assert "Linked" in (await h.say(f"/link {code}", user=DC)).last
    await check_invariants(h.ledger)


async def test_link_codes_expire(h: Harness) -> None:
    code = code_in(await h.say("/link", user=TG))
    h.clock.advance(seconds=CODE_TTL.total_seconds())
    before = await snapshot(h.db)
    assert "wrong, used or expired" in (await h.say(f"/link {code}", user=DC)).last
    assert await snapshot(h.db) == before


async def test_a_new_code_replaces_the_old_one(h: Harness) -> None:
    first = code_in(await h.say("/link", user=TG))
    second = code_in(await h.say("/link", user=TG))
    assert "wrong, used or expired" in (await h.say(f"/link {first}", user=DC)).last
    assert "Linked" in (await h.say(f"/link {second}", user=DC)).last


async def test_owner_links_directly_and_chains_fold_into_one_account(h: Harness) -> None:
    for user, name in ((TG, "tg"), (DC, "dc"), ("matrix:x", None)):
        await meet(h.ledger, user, name)
        await charge(h.ledger, user, 10 * CENT)
    await h.ledger.set_blocked(DC, True)
    reply = await h.say("/link @dc matrix:x", user=OWNER)
    assert reply.last.startswith("Linked discord:3, matrix:x")
    # linking the merged account into another one moves every identity along
    reply = await h.say("/link @tg @dc", user=OWNER)
    assert reply.last.startswith("Linked telegram:2, discord:3, matrix:x")
    assert "[blocked]" in reply.last  # a block on either side carries over
    for who in (TG, DC, "matrix:x"):
        assert (await h.ledger.summary(who)).user == TG
        assert (await h.ledger.summary(who)).spent == 30 * CENT
    assert "already share" in (await h.say("/link matrix:x telegram:2", user=OWNER)).last
    await check_invariants(h.ledger)
    users = (await h.say("/users")).last
    assert "linked with discord:3, matrix:x" in users
    assert "discord:3 (" not in users  # absorbed accounts are not listed on their own


@pytest.mark.parametrize(
    "text",
    [
        "/link @dc telegram:1",  # the owner would join the blocked account
        "/link telegram:1 @dc",  # the blocked account would join the owner's
        "/link @dc matrix:o",  # matrix:o already shares the owner's allowance
        "/link console:x @dc",  # the console user is an owner too
    ],
)
async def test_linking_never_blocks_an_owner(h: Harness, text: str) -> None:
    """A block carries over to the merged account; owners can't be blocked, so such a link is refused."""
    for user, name in ((OWNER, "boss"), (DC, "dc"), ("matrix:o", None), ("console:x", None)):
        await meet(h.ledger, user, name)
        await charge(h.ledger, user, CENT)
    await h.ledger.link(OWNER, "matrix:o")
    await h.ledger.set_blocked(DC, True)
    before = await snapshot(h.db)
    reply = await h.say(text, user=OWNER)
    assert len(reply.lines) == 1, reply.lines
    assert "discord:3 is blocked, and linking would block the owner" in reply.last
    assert "unblock them first" in reply.last
    assert await snapshot(h.db) == before
    await charge(h.ledger, OWNER, CENT)  # the owner can still be answered
    await h.say("/unblock @dc", user=OWNER)
    assert (await h.say(text, user=OWNER)).last.startswith("Linked")
    await charge(h.ledger, OWNER, CENT)
    await check_invariants(h.ledger)


async def test_a_code_from_someone_blocked_since_does_not_block_the_owner(h: Harness) -> None:
    code = code_in(await h.say("/link", user=DC))
    await h.ledger.set_blocked(DC, True)  # blocked while the code was still valid
    before = await snapshot(h.db)
    reply = await h.say(f"/link {code}", user=OWNER)
    assert reply.lines == [
        "discord:3 is blocked, and linking would block the owner telegram:1 too; unblock them first."
    ]
    assert await snapshot(h.db) == before  # the code is not used up either
    await h.ledger.set_blocked(DC, False)
    assert (await h.say(f"/link {code}", user=OWNER)).last.startswith("Linked discord:3, telegram:1")
    await charge(h.ledger, OWNER, CENT)
    await check_invariants(h.ledger)


async def test_ledger_link_api(h: Harness) -> None:
    code, expires = await h.ledger.issue_code(TG)
    assert expires == h.clock() + CODE_TTL and len(code) == 9
    with pytest.raises(LinkRefused) as refused:
        await h.ledger.redeem_code(DC, "WRONGCOD")
    assert refused.value.reason == "bad_code"
    linked = await h.ledger.redeem_code(DC, code)
    assert (linked.account, linked.absorbed, linked.identities) == (TG, DC, (TG, DC))
    with pytest.raises(LinkRefused):
        await h.ledger.link(DC, TG)


async def test_usernames_stay_with_their_identity_after_a_link(h: Harness) -> None:
    await h.say("/spend", user=TG, username="tg")
    await h.say("/spend", user=DC, username="dc")
    assert (await h.say(f"/link {TG} {DC}")).last.startswith("Linked")
    await h.say("/spend", user=DC, username="dc_new")  # the joined identity speaks again
    assert (await h.say("/cap @tg 3")).last.startswith("Cap set. telegram:2 (@tg)")
    assert (await h.ledger.summary(TG)).cap == 300 * CENT
    assert (await h.say("/cap @dc_new 4")).last.startswith("Cap set.")  # the new handle names the account
    assert (await h.ledger.summary(TG)).cap == (await h.ledger.summary(DC)).cap == 400 * CENT
    assert "I don't know @dc" in (await h.say("/cap @dc 5")).last  # the old handle is gone


async def test_the_ledger_refuses_a_block_that_would_reach_an_owner(h: Harness) -> None:
    """The owner check is part of the block's own transaction, for every caller (chat, CLI, API)."""
    await meet(h.ledger, DC, "boss_dc")
    await h.ledger.link(OWNER, DC)  # the owner's Discord identity joins the owner's account
    before = await snapshot(h.db)
    with pytest.raises(OwnerProtected) as refused:
        await h.ledger.set_blocked(DC, True, protected=h.core.services.is_owner)
    assert (refused.value.user, refused.value.owner) == (DC, OWNER)
    assert await snapshot(h.db) == before
    await h.ledger.set_blocked(DC, False, protected=h.core.services.is_owner)  # unblocking is always fine
    await h.ledger.set_blocked(TG, True, protected=h.core.services.is_owner)  # nobody's owner: blocked
    assert (await h.ledger.profile(TG)).blocked


# ---------------------------------------------------------------- issue 13: link codes never in public


async def test_a_group_link_issues_no_code_and_a_code_typed_in_a_group_is_voided(h: Harness) -> None:
    """Attack: /link in a group (or a mention) showed the code to everyone there; whoever redeemed it
    first shared the sender's allowance (an owner's included) and could then not be blocked."""
    before = await snapshot(h.db)
    for who in (TG, OWNER):
        reply = await h.say("/link", user=who, private=False)
        assert reply.lines == [
            "Send /link to me in a private chat: a link code must not be seen by anyone else. "
            "Nothing was issued here."
        ]
        assert "code is" not in reply.last
    assert await snapshot(h.db) == before  # no code exists that anyone could redeem

    # a code issued privately, then pasted into a group: the group has seen it, so it is voided there
    code = code_in(await h.say("/link", user=TG))
    reply = await h.say(f"/link {code}", user=DC, private=False)
    assert "that code was seen here, so it no longer works" in reply.last and len(reply.lines) == 1
    assert (await snapshot(h.db))["link_codes"] == []
    assert "wrong, used or expired" in (await h.say(f"/link {code}", user="telegram:66")).last  # nobody
    assert (await h.ledger.summary("telegram:66")).user == "telegram:66"  # ...gets in by it
    assert (await h.ledger.summary(DC)).user == DC


async def test_redeeming_a_code_can_be_undone_and_each_identity_keeps_its_own_settings(h: Harness) -> None:
    await h.say("/cap telegram:2 5 weekly")
    await h.say("/cap discord:3 unlimited daily")
    code = code_in(await h.say("/link", user=TG))
    assert (await h.say(f"/link {code}", user=DC)).last.startswith("Linked telegram:2, discord:3")
    assert (await h.ledger.summary(DC)).cap == 500 * CENT  # the issuer's allowance, as the code said
    await h.ledger.set_model(DC, "openai/gpt-4o")  # a setting of the shared account

    undone = await h.say("/unlink", user=DC, private=False)  # nothing secret: fine in a group
    assert undone.last.splitlines() == [
        "Unlinked discord:3 from telegram:2: each has its own allowance again, "
        "and what was spent so far stays with telegram:2.",
        "telegram:2: $0.00 this week of $5.00 per week, $5.00 left",
        "discord:3: $0.00 today, unlimited",
    ]
    tg, dc = await h.ledger.summary(TG), await h.ledger.summary(DC)
    assert (tg.user, tg.cap, tg.period) == (TG, 500 * CENT, "weekly")
    assert (dc.user, dc.cap, dc.period) == (DC, None, "daily")  # its own settings from before the link
    assert (await h.ledger.profile(TG)).model == "openai/gpt-4o"
    assert (await h.ledger.profile(DC)).model is None
    await charge(h.ledger, DC, 3 * CENT)
    assert ((await h.ledger.summary(TG)).spent, (await h.ledger.summary(DC)).spent) == (0, 3 * CENT)
    await check_invariants(h.ledger)
    before = await snapshot(h.db)
    assert "nothing to unlink" in (await h.say("/unlink", user=DC)).last
    assert "nothing to unlink" in (await h.say("/unlink", user=TG)).last
    assert await snapshot(h.db) == before


async def test_the_owner_splits_off_whoever_joined_their_allowance(h: Harness) -> None:
    """Attack: someone redeemed the owner's code and shares the owner's allowance, unblockable."""
    await meet(h.ledger, "telegram:66", "mallory")
    code = code_in(await h.say("/link", user=OWNER))
    await h.say(f"/link {code}", user="telegram:66")
    assert "owners can't be blocked" in (await h.say("/block @mallory")).last
    assert "is for the bot's owner only" in (await h.say(f"/unlink {OWNER}", user="telegram:66")).last

    reply = await h.say("/unlink @mallory")
    assert reply.lines[0].startswith("Unlinked telegram:66 from telegram:1")
    assert (await h.say("/block @mallory")).last.startswith("Blocked telegram:66.")
    assert not (await h.ledger.profile(OWNER)).blocked
    await check_invariants(h.ledger)


async def test_unlinking_the_account_itself_splits_off_everyone_linked_into_it(h: Harness) -> None:
    for who in (TG, DC, "console:x"):
        await charge(h.ledger, who, 10 * CENT)
    await h.ledger.link(TG, DC)
    await h.ledger.link(TG, "console:x")
    reply = await h.say(f"/unlink {TG}")
    assert reply.lines[0].startswith("Unlinked console:x, discord:3 from telegram:2")
    for who in (TG, DC, "console:x"):
        assert (await h.ledger.summary(who)).user == who
    # charges and running totals stay with the account they were paid from
    assert (await h.ledger.summary(TG)).spent == 30 * CENT
    assert (await h.ledger.summary(DC)).spent == (await h.ledger.summary("console:x")).spent == 0
    await check_invariants(h.ledger)


async def test_a_person_cant_unlink_to_spend_past_their_cap(h: Harness) -> None:
    """Attack: link → spend → unlink would start the split identity afresh each time, past its cap.
    The person may undo a link only while the shared account has spent nothing this period; the owner
    can split at any time."""
    await charge(h.ledger, DC, 90 * CENT)
    code = code_in(await h.say("/link", user=TG))
    await h.say(f"/link {code}", user=DC)  # DC's 90 cents now count on TG's account
    before = await snapshot(h.db)
    for who in (DC, TG):
        reply = await h.say("/unlink", user=who)
        assert reply.lines == [
            "These accounts have spent from their shared allowance this period, so only the bot's owner can "
            "split them now (spend can't be split back); or unlink after the period resets."
        ]
    assert await snapshot(h.db) == before
    h.clock.advance(days=40)  # a new month: nothing spent in it yet
    assert (await h.say("/unlink", user=DC)).lines[0].startswith("Unlinked discord:3 from telegram:2")
    await check_invariants(h.ledger)


async def test_unlink_is_refused_while_an_answer_is_in_flight(h: Harness) -> None:
    from decimal import Decimal

    from bot.ledger import ChargeDetail, Quote
    from bot.tokens import TokenCounts

    await h.ledger.link(TG, DC)
    hold = await h.ledger.reserve(DC, Quote(CENT, Decimal(0), 100, 16))
    before = await snapshot(h.db)
    assert "still in progress" in (await h.say(f"/unlink {DC}")).last
    assert await snapshot(h.db) == before
    await h.ledger.settle(hold, CENT, ChargeDetail(model="openai/gpt-4o-mini", tokens=TokenCounts()))
    assert (await h.say(f"/unlink {DC}")).last.startswith("Unlinked")
    assert (await h.ledger.summary(TG)).spent == CENT  # the answer was paid by the account it held on
    await check_invariants(h.ledger)


async def test_a_split_never_lifts_a_block_and_never_blocks_an_owner(h: Harness) -> None:
    await h.ledger.link(TG, DC)
    await h.ledger.set_blocked(TG, True)
    await h.say(f"/unlink {DC}")
    assert (await h.ledger.profile(DC)).blocked and (await h.ledger.profile(TG)).blocked
    # an owner's identity linked into a blocked account before it became an owner's: split off unblocked
    await h.ledger.link(TG, "discord:9")
    h.core.services.settings.owner_ids = (OWNER, "discord:9")
    await h.say("/unlink discord:9")
    assert not (await h.ledger.profile("discord:9")).blocked


async def test_a_code_never_pulls_its_redeemer_into_a_blocked_account(h: Harness) -> None:
    """Attack: a code issued, then its issuer blocked: redeeming it silently blocked the redeemer."""
    code = code_in(await h.say("/link", user=TG))
    await h.ledger.set_blocked(TG, True)
    before = await snapshot(h.db)
    reply = await h.say(f"/link {code}", user=DC)
    assert reply.lines == ["The account that code belongs to is blocked, and linking would block you too."]
    assert await snapshot(h.db) == before
    assert not (await h.ledger.profile(DC)).blocked
    # and a blocked person can't hand out a code at all
    assert (await h.say("/link", user=TG)).lines == ["You are blocked from using this bot."]


async def test_redeeming_joins_the_redeemer_to_the_issuer_and_changes_nothing_of_the_issuers(
    h: Harness,
) -> None:
    await h.say("/cap telegram:2 2 daily")
    await h.say("/cap discord:3 unlimited")
    code = code_in(await h.say("/link", user=TG))
    await h.say(f"/link {code}", user=DC)
    report = await h.ledger.account(DC)
    assert (report.user, report.cap, report.period, report.blocked) == (TG, 200 * CENT, "daily", False)
