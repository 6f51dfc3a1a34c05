"""Sampling settings reach each wire format under its own names, and only when they were set."""

from __future__ import annotations

from bot.providers.anthropic import AnthropicMessages
from bot.providers.base import ChatMessage, ChatRequest, Sampling
from bot.providers.gemini import GeminiChat

SET = Sampling(temperature=0.2, top_p=0.5, stop=("END",))
HI = (ChatMessage("user", "hi"),)


def test_anthropic_takes_temperature_top_p_and_stop_sequences() -> None:
    body = AnthropicMessages.body(ChatRequest("claude", HI, 100, SET))
    assert (body["temperature"], body["top_p"], body["stop_sequences"]) == (0.2, 0.5, ["END"])
    plain = AnthropicMessages.body(ChatRequest("claude", HI, 100))
    assert not {"temperature", "top_p", "stop_sequences"} & set(plain)


def test_gemini_takes_them_in_the_generation_config() -> None:
    config = GeminiChat.body(ChatRequest("gemini", HI, 100, SET))["generationConfig"]
    assert config == {"maxOutputTokens": 100, "temperature": 0.2, "topP": 0.5, "stopSequences": ["END"]}
    assert GeminiChat.body(ChatRequest("gemini", HI, 100))["generationConfig"] == {"maxOutputTokens": 100}
