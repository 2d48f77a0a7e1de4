"""canaryflow's Prefect flows and the registry that drives ``run``, ``backfill``, ``serve``,
``prefect.yaml`` and the CLI's summary table.

A flow registers itself with an entry point in the ``canaryflow.flows`` group whose value is a
:class:`FlowEntry`; adding a flow touches no shared entry point. The flows live in the
installed package (``canaryflow.flows.canary:hourly_canary``), so a user's project directory
holds only their own files: canaryflow.toml, probes/, golden_sets/.
"""

from canaryflow.flows._registry import FlowEntry, flow_entries, get_entry

__all__ = ["FlowEntry", "flow_entries", "get_entry"]
