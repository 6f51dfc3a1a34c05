"""Conversation history per thread: kept in the database, trimmed to a token budget before each call."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from bot.ledger.db import Database
from bot.providers.base import ChatMessage

# Chat formats wrap every message in a few tokens of framing (role markers, separators).
PER_MESSAGE_OVERHEAD = 8
# Stored history read back per thread; trimming decides what of it is sent.
MAX_STORED_MESSAGES = 200


def input_token_bound(messages: Sequence[ChatMessage]) -> int:
    """An upper bound on input tokens: byte-level BPE never yields more tokens than UTF-8 bytes."""
    return sum(len(m.content.encode("utf-8")) + PER_MESSAGE_OVERHEAD for m in messages)


def estimate_tokens(messages: Sequence[ChatMessage]) -> int:
    """A realistic (not guaranteed) token count, for budgets and context checks: ~3 bytes a token."""
    return sum(len(m.content.encode("utf-8")) // 3 + PER_MESSAGE_OVERHEAD for m in messages)


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


class Conversations:
    """Stored messages per thread key. `/new` clears a thread."""

    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock

    async def history(self, thread: str) -> list[ChatMessage]:
        """Oldest first, at most `MAX_STORED_MESSAGES`: `build_prompt` decides how much of it is sent."""
        rows = await self._db.fetchall(
            "SELECT role, content FROM messages WHERE thread = ? ORDER BY id DESC LIMIT ?",
            thread,
            MAX_STORED_MESSAGES,
        )
        return [ChatMessage(row["role"], row["content"]) for row in reversed(rows)]

    async def append(self, thread: str, messages: Sequence[ChatMessage]) -> None:
        """Store a question with its answer in one transaction, so history never holds half an exchange."""
        now = int(self._clock())
        async with self._db.write() as tx:
            for message in messages:
                await tx.execute(
                    "INSERT INTO messages (thread, role, content, created_at) VALUES (?, ?, ?, ?)",
                    thread,
                    message.role,
                    message.content,
                    now,
                )

    async def clear(self, thread: str) -> int:
        """Forget a thread; returns how many messages were dropped."""
        async with self._db.write() as tx:
            row = await tx.fetchone("SELECT COUNT(*) AS n FROM messages WHERE thread = ?", thread)
            await tx.execute("DELETE FROM messages WHERE thread = ?", thread)
        return int(row["n"]) if row else 0
