"""The core's menus as inline keyboards: providers first, then that provider's models with prices.

A button's `callback_data` may hold only 64 bytes, too few for "/model openrouter/some-long-model-id", so
each button carries a short id and this process remembers what it stands for (the most recent few
thousand; an older menu, or one from before a restart, asks the person to send /model again). Each entry
also remembers who asked, so in a group nobody else's tap changes the asker's menu.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict
from dataclasses import dataclass

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.i18n import N_, _
from bot.incoming import Menu

PREFIX = "cb:"
BACK = N_("« Providers")
CAPACITY = 4096  # remembered buttons; a /model menu uses a few dozen


@dataclass(frozen=True)
class Browse:
    """Show `menu` again: its list of groups (`group` None) or the items of one group."""

    menu: Menu
    owner: int
    group: int | None


@dataclass(frozen=True)
class Choose:
    """Run `command` through the core as if the asker had typed it."""

    command: str
    owner: int
    label: str


Action = Browse | Choose


class MenuBoard:
    """Short callback ids ↔ actions, for this process's lifetime, oldest forgotten first."""

    def __init__(self, capacity: int = CAPACITY) -> None:
        self._capacity = capacity
        self._actions: OrderedDict[str, Action] = OrderedDict()
        self._ids = itertools.count(1)

    def remember(self, action: Action) -> str:
        key = f"{PREFIX}{next(self._ids):x}"
        self._actions[key] = action
        while len(self._actions) > self._capacity:
            self._actions.popitem(last=False)
        return key

    def recall(self, data: str | None) -> Action | None:
        return self._actions.get(data or "")

    def keyboard(self, menu: Menu, owner: int, group: int | None = None) -> InlineKeyboardMarkup:
        """The groups as buttons, or one group's items; a menu with a single group skips straight to it."""
        if group is None and len(menu.groups) > 1:
            rows = [
                [InlineKeyboardButton(g.title, callback_data=self.remember(Browse(menu, owner, index)))]
                for index, g in enumerate(menu.groups)
            ]
            return InlineKeyboardMarkup(rows)
        chosen = menu.groups[group or 0]
        rows = [
            [
                InlineKeyboardButton(
                    item.label, callback_data=self.remember(Choose(item.command, owner, item.label))
                )
            ]
            for item in chosen.items
        ]
        if len(menu.groups) > 1:
            rows.append(
                [InlineKeyboardButton(_(BACK), callback_data=self.remember(Browse(menu, owner, None)))]
            )
        return InlineKeyboardMarkup(rows)

    def title(self, menu: Menu, group: int | None) -> str:
        if group is None or len(menu.groups) <= 1:
            return menu.title
        return f"{menu.title}\n\n{menu.groups[group].title}"
