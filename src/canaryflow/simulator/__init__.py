"""The bundled LLM simulator: a local HTTP server speaking the Anthropic and OpenAI APIs."""
