"""The provider catalog: data, not code. Adding a provider that speaks a known wire format is one row.

Each row says which wire format the provider speaks, where it lives by default, which environment
variables hold its key and override its base URL, under which id genai-prices knows its prices (None: only
the owner's price file can price it), and a short curated list of current models for `/model`. Any other
model the provider serves can still be chosen by id, as long as it has a price.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Wire = Literal["openai", "anthropic", "gemini", "azure"]


@dataclass(frozen=True)
class ProviderSpec:
    """One provider as data: adding one that speaks a known wire format is a new row, not new code."""

    name: str  # the model-id prefix: "openai" in "openai/gpt-4o-mini"
    title: str  # shown in menus
    wire: Wire
    base_url: str  # the vendor SDK's convention (OpenAI-compatible ones include the version path)
    key_env: str | None  # None: the server takes no key (local servers, the demo)
    base_url_env: str
    price_provider: str | None  # genai-prices provider id; None: priced by the owner's price file only
    models: tuple[str, ...] = ()
    # OpenAI-compatible servers differ in small ways:
    output_limit_field: str = "max_tokens"  # OpenAI itself wants "max_completion_tokens"
    stream_usage_option: bool = True  # send stream_options.include_usage (some servers reject it)
    extra_body: tuple[tuple[str, object], ...] = ()  # fixed extra request fields
    reports_cost: bool = False  # the usage carries the dollar cost the provider charged (OpenRouter)
    configured_without_key: bool = False  # local servers: usable once their base URL is set
    version_path: str = ""  # appended to a base URL that lacks it (Ollama documents its URL without /v1)


CATALOG: tuple[ProviderSpec, ...] = (
    ProviderSpec(
        "openai",
        "OpenAI",
        "openai",
        "https://api.openai.com/v1",
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
        "openai",
        ("gpt-4o-mini", "gpt-4.1-mini", "gpt-5-mini", "gpt-5-nano", "gpt-4o", "gpt-5"),
        output_limit_field="max_completion_tokens",
    ),
    ProviderSpec(
        "anthropic",
        "Anthropic",
        "anthropic",
        "https://api.anthropic.com",
        "ANTHROPIC_API_KEY",
        "ANTHROPIC_BASE_URL",
        "anthropic",
        ("claude-haiku-4-5", "claude-3-5-haiku-latest", "claude-sonnet-4-5", "claude-opus-4-1"),
    ),
    ProviderSpec(
        "google",
        "Google Gemini",
        "gemini",
        "https://generativelanguage.googleapis.com",
        "GEMINI_API_KEY",
        "GEMINI_BASE_URL",
        "google",
        ("gemini-2.5-flash-lite", "gemini-2.5-flash", "gemini-2.0-flash", "gemini-2.5-pro"),
    ),
    ProviderSpec(
        "azure",
        "Azure OpenAI",
        "azure",
        "",  # AZURE_OPENAI_ENDPOINT: https://{resource}.openai.azure.com; model names are deployments
        "AZURE_OPENAI_API_KEY",
        "AZURE_OPENAI_ENDPOINT",
        "azure",
        ("gpt-4o-mini", "gpt-4.1-mini", "gpt-4o", "o4-mini"),
        output_limit_field="max_completion_tokens",
    ),
    ProviderSpec(
        "mistral",
        "Mistral",
        "openai",
        "https://api.mistral.ai/v1",
        "MISTRAL_API_KEY",
        "MISTRAL_BASE_URL",
        "mistral",
        ("mistral-small-latest", "mistral-medium-latest", "mistral-large-latest", "codestral-latest"),
        stream_usage_option=False,  # Mistral sends usage in its last chunk and rejects unknown fields
    ),
    ProviderSpec(
        "deepseek",
        "DeepSeek",
        "openai",
        "https://api.deepseek.com/v1",
        "DEEPSEEK_API_KEY",
        "DEEPSEEK_BASE_URL",
        "deepseek",
        ("deepseek-chat", "deepseek-reasoner"),
    ),
    ProviderSpec(
        "moonshot",
        "Moonshot Kimi",
        "openai",
        "https://api.moonshot.ai/v1",
        "MOONSHOT_API_KEY",
        "MOONSHOT_BASE_URL",
        "moonshotai",
        ("kimi-k2.5", "kimi-k2-turbo-preview", "kimi-k2-thinking"),
    ),
    ProviderSpec(
        "zhipu",
        "Zhipu GLM",
        "openai",
        "https://open.bigmodel.cn/api/paas/v4",
        "ZHIPU_API_KEY",
        "ZHIPU_BASE_URL",
        "zhipuai",
        ("glm-4.5-air", "glm-4.7", "glm-5"),
    ),
    ProviderSpec(
        "dashscope",
        "Qwen (DashScope)",
        "openai",
        "https://dashscope-intl.aliyuncs.com/compatible-mode/v1",
        "DASHSCOPE_API_KEY",
        "DASHSCOPE_BASE_URL",
        None,  # priced by bot/prices.toml
        ("qwen-turbo", "qwen-plus", "qwen-max"),
    ),
    ProviderSpec(
        "qianfan",
        "Baidu Qianfan",
        "openai",
        "https://qianfan.baidubce.com/v2",
        "QIANFAN_API_KEY",
        "QIANFAN_BASE_URL",
        None,  # priced by bot/prices.toml
        ("ernie-4.5-turbo-128k", "ernie-speed-128k"),
    ),
    ProviderSpec(
        "openrouter",
        "OpenRouter",
        "openai",
        "https://openrouter.ai/api/v1",
        "OPENROUTER_API_KEY",
        "OPENROUTER_BASE_URL",
        "openrouter",
        (
            "openai/gpt-4o-mini",
            "anthropic/claude-haiku-4.5",
            "google/gemini-2.5-flash",
            "deepseek/deepseek-chat",
        ),
        extra_body=(("usage", {"include": True}),),  # OpenRouter then reports the cost it charged
        reports_cost=True,
    ),
    ProviderSpec(
        "xai",
        "xAI",
        "openai",
        "https://api.x.ai/v1",
        "XAI_API_KEY",
        "XAI_BASE_URL",
        "x-ai",
        ("grok-4-fast-non-reasoning", "grok-3-mini", "grok-4-0709"),
    ),
    ProviderSpec(
        "groq",
        "Groq",
        "openai",
        "https://api.groq.com/openai/v1",
        "GROQ_API_KEY",
        "GROQ_BASE_URL",
        "groq",
        ("llama-3.1-8b-instant", "llama-3.3-70b-versatile", "openai/gpt-oss-120b"),
    ),
    ProviderSpec(
        "ollama",
        "Local (Ollama, llama.cpp, vLLM)",
        "openai",
        "http://localhost:11434",  # OLLAMA_BASE_URL without /v1, as Ollama documents it
        None,
        "OLLAMA_BASE_URL",
        None,  # free through the "ollama/*" row of bot/prices.toml unless the owner prices it
        ("llama3.2", "qwen2.5", "mistral"),
        configured_without_key=True,
        version_path="/v1",
    ),
)

BY_NAME: dict[str, ProviderSpec] = {spec.name: spec for spec in CATALOG}
