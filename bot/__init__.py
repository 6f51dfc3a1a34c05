"""capbot: an LLM chat bot paid by the owner's own keys, with hard per-user dollar caps."""

__version__ = "0.1.0"
