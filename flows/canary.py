"""The hourly canary flow (it lives in the installed package: ``canaryflow.flows.canary``).

Kept here so ``python flows/canary.py`` and file entrypoints (``flows/canary.py:hourly_canary``)
keep working; deployments use the module path ``canaryflow.flows.canary:hourly_canary``.
"""

from canaryflow.flows.canary import hourly_canary

__all__ = ["hourly_canary"]

if __name__ == "__main__":
    import json

    print(json.dumps(hourly_canary(), indent=2, default=str))
