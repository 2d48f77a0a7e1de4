"""canaryflow: catch silent quality regressions in LLM applications.

Scheduled canary probes, golden-set evaluations and production-sample judging on Prefect,
compared with stored baselines using statistics with a known false-alarm rate.
"""

from canaryflow.errors import (
    CanaryflowError,
    ConfigError,
    DataError,
    ProviderError,
)

__all__ = [
    "CanaryflowError",
    "ConfigError",
    "DataError",
    "ProviderError",
    "__version__",
]

__version__ = "0.1.0"
