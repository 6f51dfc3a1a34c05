"""Albums: several photos or files sent together reach the bot as one message each, sharing a
`media_group_id`, and are answered as one question with every file.

Every album part is noted as it arrives (`Albums.arrived`, before it joins its person's queue, so a part
waiting behind the answer to an earlier one is still seen). The first part addressed to the bot takes the
album (`take`) and waits until no part has arrived for `QUIET` seconds (at most `LIMIT`); the parts
handled after it find the album taken and leave it. In a group only a part that is addressed (its caption
mentions the bot, or it replies to the bot) can take the album; the others are gathered with it.

Parts that reach different processes (webhook workers behind a load balancer) are answered per process.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from telegram import Message

QUIET = 0.6  # seconds without a new part: the album is complete (Telegram sends the parts back to back)
LIMIT = 3.0  # seconds an album is waited for at most, from its first part
FORGET = 60.0  # seconds after its last part an album is forgotten


@dataclass
class Album:
    first: float  # loop time of the first part's arrival
    last: float  # and of the latest part's
    parts: dict[int, Message] = field(default_factory=dict)  # by message id
    taken: bool = False
    more: asyncio.Event = field(default_factory=asyncio.Event)  # set when a part arrives

    async def complete(self) -> list[Message]:
        """Every part, in the order they were sent, once no more are coming."""
        while True:
            self.more.clear()
            try:
                async with asyncio.timeout_at(min(self.last + QUIET, self.first + LIMIT)):
                    await self.more.wait()
            except TimeoutError:
                return [self.parts[key] for key in sorted(self.parts)]


class Albums:
    """The albums being received, by chat and media group."""

    def __init__(self) -> None:
        self._albums: dict[tuple[int, str], Album] = {}

    def arrived(self, message: Message) -> None:
        """Note an album part (anything else is ignored); called as the update arrives."""
        if message.media_group_id is None:
            return
        now = asyncio.get_running_loop().time()
        for key in [k for k, album in self._albums.items() if now - album.last > FORGET]:
            del self._albums[key]
        album = self._albums.setdefault((message.chat.id, message.media_group_id), Album(now, now))
        album.last = now
        album.parts[message.message_id] = message
        album.more.set()

    def take(self, message: Message) -> Album | None:
        """The album of `message` for its handler to answer, or None when another part's handler has it."""
        assert message.media_group_id is not None
        album = self._albums.get((message.chat.id, message.media_group_id))
        if album is None:  # not noted on arrival (forgotten already): the part alone
            now = asyncio.get_running_loop().time()
            album = Album(now, now, {message.message_id: message})
            self._albums[(message.chat.id, message.media_group_id)] = album
        if album.taken:
            return None
        album.taken = True
        return album
