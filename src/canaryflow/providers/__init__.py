"""Model clients: one async interface over the Anthropic and OpenAI SDKs, plus test doubles.

``make_client(key, cfg)`` builds the client for a configured model; ``await client.complete(req)``
always returns a ``Completion`` (a failure is recorded in it, never raised). The SDK modules are
imported lazily, when a factory for them runs.
"""

from canaryflow.providers._base import (
    MalformedResponse,
    ModelClient,
    RetryDecision,
    StreamTimer,
    complete_many,
    parse_retry_after,
)
from canaryflow.providers._registry import make_client, provider, providers, simulator_url
from canaryflow.providers.fake import FakeClient, FakeRepliesExhausted
from canaryflow.providers.pricing import cost_usd

__all__ = [
    "FakeClient",
    "FakeRepliesExhausted",
    "MalformedResponse",
    "ModelClient",
    "RetryDecision",
    "StreamTimer",
    "complete_many",
    "cost_usd",
    "make_client",
    "parse_retry_after",
    "provider",
    "providers",
    "simulator_url",
]
