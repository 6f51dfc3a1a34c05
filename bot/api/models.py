"""The provisioning API's bodies: what goes in is validated here, what comes out is typed here.

Dollar amounts travel as decimal strings ("0.25"): JSON numbers are floats in most clients and money is
never a float. Inputs also accept a JSON number, which is read through its shortest decimal text.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, dataclasses

from bot.ledger import ModelTokens

Usd = Annotated[str, Field(pattern=r"^-?[0-9]+(\.[0-9]+)?$", examples=["0.25"])]
PeriodName = Literal["daily", "weekly", "monthly", "total"]
PeriodInput = Literal["daily", "weekly", "monthly", "total", "default"]
LimitInput = str | int | float


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)  # "yes" is not true, true is not 1


class LimitSet(_In):
    """PUT: the whole limit. `limit` is dollars, "unlimited" or "default"; no period means the default."""

    limit: LimitInput = Field(examples=["5", "unlimited", "default"])
    period: PeriodInput | None = None


class UserPatch(_In):
    """PATCH: only the fields given change."""

    limit: LimitInput | None = Field(default=None, examples=["5"])
    period: PeriodInput | None = None
    disabled: bool | None = None


class UserOut(BaseModel):
    user: str = Field(examples=["telegram:12345"])
    identities: list[str]
    username: str | None
    period: PeriodName
    usage: Usd
    limit: Usd | None  # None: unlimited
    limit_remaining: Usd | None
    limit_reset: datetime | None  # None: the period is all time
    held: Usd
    disabled: bool
    owner: bool
    custom: bool  # an own cap or period is set (otherwise the defaults apply)


class UserList(BaseModel):
    users: list[UserOut]


@dataclasses.dataclass(frozen=True)
class ModelUsageOut(ModelTokens):
    """The ledger's `ModelUsage` with its amounts as exact decimal dollars."""

    cost: Usd  # charged to people
    absorbed: Usd  # reported beyond the holds: paid by the owner, charged to nobody


class UsageReport(BaseModel):
    user: str | None  # None: everyone
    period: PeriodName
    since: datetime | None
    models: list[ModelUsageOut]
    total: Usd
    absorbed: Usd


class KeyCreate(_In):
    """POST: a new gateway key for the person; `name` is an optional label (e.g. "laptop")."""

    name: str | None = Field(default=None, max_length=40, examples=["laptop"])


class KeyOut(BaseModel):
    """A key as lists show it: its id and shown prefix, never the secret."""

    id: int
    user: str = Field(examples=["telegram:12345"])  # the identity it was made for
    prefix: str = Field(examples=["capbot-Ab3dE"])
    name: str
    created_at: datetime
    last_used_at: datetime | None  # updated at most once a minute
    revoked_at: datetime | None


class KeyCreated(KeyOut):
    """The answer to POST: the one time the secret is shown; only its hash is kept."""

    secret: str = Field(examples=["capbot-Ab3dE..."])


class KeyList(BaseModel):
    keys: list[KeyOut]


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorOut(BaseModel):
    error: ErrorDetail
