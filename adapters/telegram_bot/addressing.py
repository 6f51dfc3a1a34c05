"""Which Telegram messages are for the bot, what they say, and whose they are.

A private chat is a conversation with the bot, so plain text there is a question. In a group the bot
speaks only when spoken to: a command for it (`/ask`, `/ask@botname`), a message that mentions it, or a
reply to one of its messages; everything else is chatter and never reaches the core. A photo's or a
file's caption is the question asked about it. Each person has one conversation per chat
(`telegram:<chat>:<user>`), paid by their identity `telegram:<user>`.
"""

from __future__ import annotations

from telegram import Message, User
from telegram.constants import ChatType, MessageEntityType

from adapters.telegram_bot.media import carries_media
from bot.incoming import Incoming


def identity(user: User) -> str:
    return f"telegram:{user.id}"


def conversation_key(chat_id: int, user_id: int) -> str:
    """One conversation per person per chat."""
    return f"telegram:{chat_id}:{user_id}"


def incoming_from(
    sender: User, chat_id: int, text: str, *, direct: bool, private: bool, replied: User | None = None
) -> Incoming:
    """What `sender` said in chat `chat_id`, for the core: who (identity, @username, name), in which of
    their conversations, in their client's language, and whose message it replies to."""
    return Incoming(
        user=identity(sender),
        conversation=conversation_key(chat_id, sender.id),
        text=text,
        direct=direct,
        private=private,
        username=f"@{sender.username}" if sender.username else None,
        display_name=sender.full_name,
        language=sender.language_code,
        reply_to_user=identity(replied) if replied is not None else None,
    )


def addressed(message: Message, me: User, commands: frozenset[str]) -> tuple[str, bool] | None:
    """(text for the core, direct) for a message meant for the bot, None for anything else.

    `commands` are the names the core knows: in a group a bare "/start" may be for another bot, so only
    those (or a command explicitly "@"-addressed to this bot) are taken. A photo's or a file's caption
    reads like a message's text: it is the question asked about the file (empty: the file alone).
    """
    text = body(message)
    if message.chat.type == ChatType.PRIVATE:
        return text, True
    if text.startswith("/"):
        name, _, target = text.split(maxsplit=1)[0][1:].partition("@")
        if target:
            return (text, False) if target.lower() == (me.username or "").lower() else None
        return (text, False) if name.lower() in commands else None
    mentions = _own_mentions(message, me)
    if mentions:
        return _without(text, mentions).strip(), True  # empty for a bare mention: the core answers with help
    if _replies_to(message, me):
        return text, True
    return None


def _own_mentions(message: Message, me: User) -> list[tuple[int, int]]:
    """UTF-16 (offset, length) of each mention of the bot: "@botname", or a text mention of its user."""
    handle = f"@{me.username}".lower()
    found = []
    kinds: list[str | None] = [MessageEntityType.MENTION, MessageEntityType.TEXT_MENTION]
    parsed = (
        message.parse_entities(kinds) if message.text is not None else message.parse_caption_entities(kinds)
    )
    for entity, shown in parsed.items():
        if (entity.type == MessageEntityType.MENTION and shown.lower() == handle) or (
            entity.user is not None and entity.user.id == me.id
        ):
            found.append((entity.offset, entity.length))
    return found


def body(message: Message) -> str:
    """What a message says: its text, or the caption of the photo or file it carries."""
    return message.text if message.text is not None else message.caption or ""


def for_the_core(message: Message) -> bool:
    """Whether a message is of a kind the core answers: text, or a file (a photo, a voice note, ...)."""
    return message.text is not None or carries_media(message)


def _without(text: str, spans: list[tuple[int, int]]) -> str:
    """`text` with the given UTF-16 spans cut out (entity offsets count UTF-16 code units)."""
    units = text.encode("utf-16-le")
    for offset, length in sorted(spans, reverse=True):
        units = units[: offset * 2] + units[(offset + length) * 2 :]
    return units.decode("utf-16-le")


def replied_author(message: Message) -> User | None:
    replied = message.reply_to_message
    if replied is None or replied.forum_topic_created is not None:  # in a topic, every message "replies"
        return None  # to the topic's first message; that is not a reply to its author
    return replied.from_user


def _replies_to(message: Message, me: User) -> bool:
    author = replied_author(message)
    return author is not None and author.id == me.id


def album_question(
    text: str, leader: Message, parts: list[Message], me: User, commands: frozenset[str]
) -> str:
    """An album's question: the captions of its parts, the addressed part's first (mention removed)."""
    others = []
    for part in parts:
        if part.message_id != leader.message_id:
            found = addressed(part, me, commands)
            others.append(found[0] if found is not None else body(part).strip())
    return "\n".join(caption for caption in (text, *others) if caption)
