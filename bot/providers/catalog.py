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
        name="openai",
        title="OpenAI",
        wire="openai",
        base_url="https://api.openai.com/v1",
        key_env="OPENAI_API_KEY",
        base_url_env="OPENAI_BASE_URL",
        price_provider="openai",
        models=("gpt-4o-mini", "gpt-4.1-mini", "gpt-5-mini", "gpt-5-nano", "gpt-4o", "gpt-5"),
        output_limit_field="max_completion_tokens",
    ),
    ProviderSpec(
        name="anthropic",
        title="Anthropic",
        wire="anthropic",
        base_url="https://api.anthropic.com",
        key_env="ANTHROPIC_API_KEY",
        base_url_env="ANTHROPIC_BASE_URL",
        price_provider="anthropic",
        models=("claude-haiku-4-5", "claude-3-5-haiku-latest", "claude-sonnet-4-5", "claude-opus-4-1"),
    ),
    ProviderSpec(
        name="google",
        title="Google Gemini",
        wire="gemini",
        base_url="https://generativelanguage.googleapis.com",
        key_env="GEMINI_API_KEY",
        base_url_env="GEMINI_BASE_URL",
        price_provider="google",
        models=("gemini-2.5-flash-lite", "gemini-2.5-flash", "gemini-2.0-flash", "gemini-2.5-pro"),
    ),
    ProviderSpec(
        name="azure",
        title="Azure OpenAI",
        wire="azure",
        # AZURE_OPENAI_ENDPOINT: https://{resource}.openai.azure.com; model names are deployments
        base_url="",
        key_env="AZURE_OPENAI_API_KEY",
        base_url_env="AZURE_OPENAI_ENDPOINT",
        price_provider="azure",
        models=("gpt-4o-mini", "gpt-4.1-mini", "gpt-4o", "o4-mini"),
        output_limit_field="max_completion_tokens",
    ),
    ProviderSpec(
        name="mistral",
        title="Mistral",
        wire="openai",
        base_url="https://api.mistral.ai/v1",
        key_env="MISTRAL_API_KEY",
        base_url_env="MISTRAL_BASE_URL",
        price_provider="mistral",
        models=("mistral-small-latest", "mistral-medium-latest", "mistral-large-latest", "codestral-latest"),
        stream_usage_option=False,  # Mistral sends usage in its last chunk and rejects unknown fields
    ),
    ProviderSpec(
        name="deepseek",
        title="DeepSeek",
        wire="openai",
        base_url="https://api.deepseek.com/v1",
        key_env="DEEPSEEK_API_KEY",
        base_url_env="DEEPSEEK_BASE_URL",
        price_provider="deepseek",
        models=("deepseek-chat", "deepseek-reasoner"),
    ),
    ProviderSpec(
        name="moonshot",
        title="Moonshot Kimi",
        wire="openai",
        base_url="https://api.moonshot.ai/v1",
        key_env="MOONSHOT_API_KEY",
        base_url_env="MOONSHOT_BASE_URL",
        price_provider="moonshotai",
        models=("kimi-k2.5", "kimi-k2-turbo-preview", "kimi-k2-thinking"),
    ),
    ProviderSpec(
        name="zhipu",
        title="Zhipu GLM",
        wire="openai",
        base_url="https://open.bigmodel.cn/api/paas/v4",
        key_env="ZHIPU_API_KEY",
        base_url_env="ZHIPU_BASE_URL",
        price_provider="zhipuai",
        models=("glm-4.5-air", "glm-4.7", "glm-5"),
    ),
    ProviderSpec(
        name="dashscope",
        title="Qwen (DashScope)",
        wire="openai",
        base_url="https://dashscope-intl.aliyuncs.com/compatible-mode/v1",
        key_env="DASHSCOPE_API_KEY",
        base_url_env="DASHSCOPE_BASE_URL",
        price_provider=None,  # priced by bot/prices.toml
        models=("qwen-turbo", "qwen-plus", "qwen-max"),
    ),
    ProviderSpec(
        name="qianfan",
        title="Baidu Qianfan",
        wire="openai",
        base_url="https://qianfan.baidubce.com/v2",
        key_env="QIANFAN_API_KEY",
        base_url_env="QIANFAN_BASE_URL",
        price_provider=None,  # priced by bot/prices.toml
        models=("ernie-4.5-turbo-128k", "ernie-speed-128k"),
    ),
    ProviderSpec(
        name="openrouter",
        title="OpenRouter",
        wire="openai",
        base_url="https://openrouter.ai/api/v1",
        key_env="OPENROUTER_API_KEY",
        base_url_env="OPENROUTER_BASE_URL",
        price_provider="openrouter",
        models=(
            "openai/gpt-4o-mini",
            "anthropic/claude-haiku-4.5",
            "google/gemini-2.5-flash",
            "deepseek/deepseek-chat",
        ),
        extra_body=(("usage", {"include": True}),),  # OpenRouter then reports the cost it charged
        reports_cost=True,
    ),
    ProviderSpec(
        name="xai",
        title="xAI",
        wire="openai",
        base_url="https://api.x.ai/v1",
        key_env="XAI_API_KEY",
        base_url_env="XAI_BASE_URL",
        price_provider="x-ai",
        models=("grok-4-fast-non-reasoning", "grok-3-mini", "grok-4-0709"),
    ),
    ProviderSpec(
        name="groq",
        title="Groq",
        wire="openai",
        base_url="https://api.groq.com/openai/v1",
        key_env="GROQ_API_KEY",
        base_url_env="GROQ_BASE_URL",
        price_provider="groq",
        models=("llama-3.1-8b-instant", "llama-3.3-70b-versatile", "openai/gpt-oss-120b"),
    ),
    ProviderSpec(
        name="ollama",
        title="Local (Ollama, llama.cpp, vLLM)",
        wire="openai",
        base_url="http://localhost:11434",  # OLLAMA_BASE_URL without /v1, as Ollama documents it
        key_env=None,
        base_url_env="OLLAMA_BASE_URL",
        price_provider=None,  # free through the "ollama/*" row of bot/prices.toml unless the owner prices it
        models=("llama3.2", "qwen2.5", "mistral"),
        configured_without_key=True,
        version_path="/v1",
    ),
)

BY_NAME: dict[str, ProviderSpec] = {spec.name: spec for spec in CATALOG}
