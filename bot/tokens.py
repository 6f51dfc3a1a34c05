"""Token counts by kind: one shape for what a provider reports, what a charge records and what reports sum.

A neutral value, so providers and the ledger can both use it without knowing each other. The convention is
genai-prices': `input_tokens` includes the cached ones and `output_tokens` includes the reasoning ones, so
the finer fields say how the totals split, never add to them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TokenCounts:
    input_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0
