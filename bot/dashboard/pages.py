"""The dashboard's HTML, rendered on the server from ledger reports; every value passes `html.escape`.

Plain forms that work without JavaScript; amounts as `format_usd` shows them to people, with the exact
ledger amount in each one's title (hover or long-press), so nothing is lost to rounding on the way.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from html import escape
from urllib.parse import quote, urlencode

from bot.api.app import usd
from bot.ledger import PERIODS, AccountReport, ChargeRecord, GlobalStanding, ModelUsage, OpenHold
from bot.money import format_usd
from bot.wording import per_period, this_period

PREFIX = "/dashboard"
NAV = (("", "Overview"), ("people", "People"), ("models", "Models"))


def money(nanos: int | None, *, none: str = "unlimited") -> str:
    """An amount as people read it, the ledger's exact amount in its title."""
    if nanos is None:
        return none
    return f'<span class="usd" title="${escape(usd(nanos) or "0")}">{escape(format_usd(nanos))}</span>'


def moment(at: datetime | None) -> str:
    return "—" if at is None else f'<time datetime="{at.isoformat()}">{at:%Y-%m-%d %H:%M} UTC</time>'


def person_url(user: str) -> str:
    return f"{PREFIX}/people/{quote(user, safe=':')}"


def layout(title: str, body: str, *, csrf: str | None = None, here: str = "") -> str:
    """A whole page: the navigation and a sign-out button when signed in (`csrf` given)."""
    nav = ""
    if csrf is not None:
        links = "".join(
            f'<a href="{PREFIX}/{path}"{" aria-current=page" if path == here else ""}>{name}</a>'
            for path, name in NAV
        )
        nav = (
            f"<nav>{links}<form method=post action={PREFIX}/logout class=signout>{_csrf(csrf)}"
            "<button>Sign out</button></form></nav>"
        )
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)} · capbot</title>"
        f'<link rel=stylesheet href="{PREFIX}/static/style.css"></head>'
        f"<body><header><b>capbot</b> dashboard{nav}</header><main><h1>{escape(title)}</h1>{body}</main>"
        "</body></html>"
    )


def _csrf(token: str) -> str:
    return f'<input type=hidden name=csrf value="{escape(token)}">'


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]], empty: str) -> str:
    """A table of already-escaped cells; `empty` when there are no rows."""
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    if not body:
        return f"<p class=empty>{escape(empty)}</p>"
    head = "".join(f"<th>{h}</th>" for h in headers)
    return f"<div class=scroll><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"


def sign_in(problem: str | None = None) -> str:
    """The sign-in form: the token in a password field, posted (never in a URL)."""
    note = f"<p class=problem role=alert>{escape(problem)}</p>" if problem else ""
    return layout(
        "Sign in",
        f"{note}<form method=post action={PREFIX}/login class=signin>"
        "<label>Admin token <input type=password name=token autocomplete=current-password required"
        " autofocus></label><button>Sign in</button></form>"
        "<p class=hint>The token is ADMIN_API_TOKEN from the bot's settings.</p>",
    )


def refused(line: str, back: str, csrf: str) -> str:
    """One line saying why nothing changed, and the way back."""
    return layout(
        "Nothing changed",
        f'<p class=problem role=alert>{escape(line)}</p><p><a href="{escape(back)}">Back</a></p>',
        csrf=csrf,
    )


def model_rows(rows: Sequence[ModelUsage]) -> list[list[str]]:
    return [
        [
            escape(r.model),
            f"{r.requests:,}",
            f"{r.input_tokens:,}",
            f"{r.cached_tokens:,}",
            f"{r.output_tokens:,}",
            f"{r.reasoning_tokens:,}",
            money(r.cost),
        ]
        for r in rows
    ]


MODEL_HEADERS = ("Model", "Requests", "Input", "Cached", "Output", "Reasoning", "Cost")


def overview_page(
    standing: GlobalStanding,
    chart: str,
    top: Sequence[AccountReport],
    models: Sequence[ModelUsage],
    holds: Sequence[OpenHold],
    csrf: str,
) -> str:
    """This period's total against the global cap, the daily chart, top people and models, open holds."""
    when = this_period(standing.period)
    if standing.cap is None:
        total = f"{money(standing.spent)} spent {when}; no global cap (GLOBAL_CAP_USD is not set)."
    else:
        total = (
            f"{money(standing.spent)} spent {when} of the global cap {money(standing.cap)} "
            f"{per_period(standing.period)}; {money(standing.remaining)} left."
        )
    people = _table(
        ("Person", "Spent", "Cap"),
        ([_who(r), money(r.spent), money(r.cap)] for r in top),
        "Nobody has spent anything yet.",
    )
    open_holds = _table(
        ("Person", "Held", "Since"),
        (
            [f'<a href="{person_url(h.user)}">{escape(h.user)}</a>', money(h.amount), moment(h.created_at)]
            for h in holds
        ),
        "No answers in progress.",
    )
    top_models = _table(
        ("Model", "Requests", "Cost"), ([m[0], m[1], m[6]] for m in model_rows(models)), "No usage."
    )
    body = (
        f"<p class=total>{total} {money(standing.held)} held by answers in progress.</p>"
        f"<h2>Spend per day, last 30 days</h2>{chart}"
        f"<div class=cols><section><h2>Top people {when}</h2>{people}</section>"
        f"<section><h2>Top models {when}</h2>"
        f"{top_models}"
        f"</section></div><h2>Open holds</h2>{open_holds}"
    )
    return layout("Overview", body, csrf=csrf, here="")


def _who(report: AccountReport) -> str:
    linked = "".join(f"<br><small>+ {escape(i)}</small>" for i in report.identities[1:])
    return f'<a href="{person_url(report.user)}">{escape(report.user)}</a>{linked}'


def cap_forms(report: AccountReport, owner: bool, csrf: str, back: str) -> tuple[str, str]:
    """Set a cap (amount, unlimited or default; a period or the current one), and block or unblock."""
    action = person_url(report.user)
    options = "".join(f"<option value={p}>{p}</option>" for p in (*PERIODS, "default"))
    hidden = _csrf(csrf) + f'<input type=hidden name=back value="{escape(back)}">'
    cap = (
        f'<form method=post action="{action}/cap" class=cap>{hidden}'
        f'<input name=amount required size=6 aria-label="New cap for {escape(report.user)}"'
        ' placeholder="5.00" title="dollars, unlimited or default">'
        f'<select name=period aria-label="Period"><option value="">same period</option>{options}</select>'
        "<button>Set cap</button></form>"
    )
    if owner:
        block = "<span class=badge>owner</span>"
    else:
        verb, value = ("Unblock", "0") if report.blocked else ("Block", "1")
        block = (
            f'<form method=post action="{action}/block">{hidden}'
            f"<input type=hidden name=blocked value={value}><button>{verb}</button></form>"
        )
        if report.blocked:
            block = "<span class=badge>blocked</span> " + block
    return cap, block


def cap_text(report: AccountReport) -> str:
    if report.cap is None:
        return "unlimited"
    return f"{money(report.cap)} {per_period(report.period)}" + (
        "" if report.custom else " <small>(default)</small>"
    )


SORTS = ("user", "username", "spent", "cap", "remaining", "last_seen")


def people_page(
    reports: Sequence[AccountReport],
    seen: dict[str, datetime],
    is_owner: dict[str, bool],
    query: str,
    sort: str,
    descending: bool,
    csrf: str,
    back: str,
) -> str:
    """Every account with its standing and the controls, searchable and sortable by any column."""

    def header(key: str, name: str) -> str:
        down = not descending if key == sort else key in ("spent", "last_seen")
        arrow = (" ▼" if descending else " ▲") if key == sort else ""
        params = urlencode({"q": query, "sort": key, "dir": "desc" if down else "asc"})
        return f'<a href="{PREFIX}/people?{escape(params)}">{name}{arrow}</a>'

    rows = [
        [
            _who(r),
            escape("@" + r.username) if r.username else "",
            money(r.spent),
            cap_text(r),
            money(r.remaining),
            moment(seen.get(r.user)),
            *cap_forms(r, is_owner[r.user], csrf, back),
        ]
        for r in reports
    ]
    search = (
        f"<form method=get action={PREFIX}/people class=search role=search>"
        f'<input type=search name=q value="{escape(query)}" aria-label="Search people"'
        ' placeholder="platform:id or @name"><input type=hidden name=sort'
        f' value="{escape(sort)}"><button>Search</button></form>'
    )
    headers = (
        header("user", "Person"),
        header("username", "Username"),
        header("spent", "Spent"),
        header("cap", "Cap"),
        header("remaining", "Remaining"),
        header("last_seen", "Last seen"),
        "New cap",
        "Blocked",
    )
    table = _table(headers, rows, "Nobody matches." if query else "Nobody has written yet.")
    return layout("People", search + table, csrf=csrf, here="people")


def person_page(
    report: AccountReport,
    owner: bool,
    chart: str,
    models: Sequence[ModelUsage],
    charges: Sequence[ChargeRecord],
    csrf: str,
) -> str:
    """One account: standing, controls, daily chart, spend by model, recent charges (estimated marked)."""
    when = this_period(report.period)
    names = ", ".join(escape(i) for i in report.identities)
    standing = (
        f"<p>{names}{' (@' + escape(report.username) + ')' if report.username else ''}"
        f"{' · owner' if owner else ''}</p>"
        f"<p class=total>{money(report.spent)} spent {when}; cap {cap_text(report)};"
        f" {money(report.remaining)} left; {money(report.held)} held;"
        f" resets {moment(report.resets_at) if report.resets_at else 'never'}.</p>"
    )
    recent = _table(
        ("When", "Model", "Input", "Output", "Cost", ""),
        (
            [
                moment(c.created_at),
                escape(c.model),
                f"{c.input_tokens:,}",
                f"{c.output_tokens:,}",
                money(c.cost),
                "<span class=badge title='No usage was reported: charged the bound of what was received'>"
                "estimated</span>"
                if c.estimated
                else "",
            ]
            for c in charges
        ),
        "No charges yet.",
    )
    body = (
        standing
        + "".join(cap_forms(report, owner, csrf, person_url(report.user)))
        + f"<h2>Spend per day, last 30 days</h2>{chart}"
        + f"<h2>By model {when}</h2>{_table(MODEL_HEADERS, model_rows(models), 'No usage.')}"
        + f"<h2>Recent charges</h2>{recent}"
    )
    return layout(report.user, body, csrf=csrf, here="people")


def models_page(rows: Sequence[ModelUsage], period: str, csrf: str) -> str:
    """Requests, tokens and cost per model for everyone, this (default) period."""
    body = _table(MODEL_HEADERS, model_rows(rows), "No usage.")
    total = sum(r.cost for r in rows)
    return layout(
        "Models", f"<p class=total>{money(total)} {this_period(period)}.</p>{body}", csrf=csrf, here="models"
    )
