"""LLM providers: a data catalog of providers and models, and one module per wire format."""
