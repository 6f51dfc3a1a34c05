"""Conversation history per conversation key: kept in the database, trimmed to a token budget per call."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from bot.providers.base import ChatMessage
from bot.storage import Database

# Chat formats wrap every message in a few tokens of framing (role markers, separators).
PER_MESSAGE_OVERHEAD = 8
# Stored history read back per conversation; trimming decides what of it is sent.
MAX_STORED_MESSAGES = 200


def input_token_bound(messages: Sequence[ChatMessage]) -> int:
    """An upper bound on input tokens: byte-level BPE never yields more tokens than UTF-8 bytes, and an
    image is billed by its provider's formula (its `tokens`)."""
    return sum(len(m.content.encode("utf-8")) + PER_MESSAGE_OVERHEAD + _image_tokens(m) for m in messages)


def estimate_tokens(messages: Sequence[ChatMessage]) -> int:
    """A realistic (not guaranteed) token count, for budgets and context checks: ~3 bytes a token."""
    return sum(
        len(m.content.encode("utf-8")) // 3 + PER_MESSAGE_OVERHEAD + _image_tokens(m) for m in messages
    )


def _image_tokens(message: ChatMessage) -> int:
    return sum(image.tokens for image in message.images)


def build_prompt(
    system: str, history: Sequence[ChatMessage], question: ChatMessage, budget_tokens: int
) -> tuple[ChatMessage, ...]:
    """System prompt + as much recent history as fits `budget_tokens` + the new message.

    The oldest messages go first; the system prompt and the new message are always kept, so a long
    question is judged against the model's context window rather than silently dropped.
    """
    head = (ChatMessage("system", system),) if system else ()
    kept: list[ChatMessage] = []
    used = estimate_tokens((*head, question))
    for message in reversed(history):
        cost = estimate_tokens((message,))
        if used + cost > budget_tokens:
            break
        kept.append(message)
        used += cost
    kept.reverse()
    if kept and kept[0].role == "assistant":  # never open the history mid-exchange
        kept = kept[1:]
    return (*head, *kept, question)


def with_less_history(prompt: Sequence[ChatMessage]) -> list[tuple[ChatMessage, ...]]:
    """`prompt` (as `build_prompt` made it) with ever less of its history, oldest first out, down to none.

    Each one drops the oldest exchange still in the previous one (a history never opens mid-exchange), so
    each costs no more than the one before it. Empty when there is no history to leave out.
    """
    head = tuple(prompt[:1]) if prompt and prompt[0].role == "system" else ()
    history, question = prompt[len(head) : -1], prompt[-1]
    starts = [i for i in range(1, len(history)) if history[i].role != "assistant"]
    return [(*head, *history[i:], question) for i in (*starts, len(history))] if history else []


class Conversations:
    """Stored messages per conversation key (the adapter's chat, channel or DM). `/new` clears one."""

    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock

    async def history(self, conversation: str) -> list[ChatMessage]:
        """Oldest first, at most `MAX_STORED_MESSAGES`: `build_prompt` decides how much of it is sent."""
        rows = await self._db.fetchall(
            "SELECT role, content FROM messages WHERE conversation = ? ORDER BY id DESC LIMIT ?",
            conversation,
            MAX_STORED_MESSAGES,
        )
        return [ChatMessage(row["role"], row["content"]) for row in reversed(rows)]

    async def append(self, conversation: str, messages: Sequence[ChatMessage]) -> None:
        """Store a question with its answer in one transaction, so history never holds half an exchange."""
        if not messages:
            return
        now = int(self._clock())
        rows = ", ".join("(?, ?, ?, ?)" for _ in messages)  # one statement: one hop to the database
        values = [v for m in messages for v in (conversation, m.role, m.content, now)]
        await self._db.execute(
            f"INSERT INTO messages (conversation, role, content, created_at) VALUES {rows}", *values
        )

    async def clear(self, conversation: str) -> int:
        """Forget a conversation (`/new`); returns how many messages were dropped, for the reply."""
        async with self._db.write() as tx:
            row = await tx.fetchone("SELECT COUNT(*) AS n FROM messages WHERE conversation = ?", conversation)
            await tx.execute("DELETE FROM messages WHERE conversation = ?", conversation)
        return int(row["n"]) if row else 0
