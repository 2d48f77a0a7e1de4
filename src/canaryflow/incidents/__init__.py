"""Alerts become incidents: lifecycle, runbooks, sinks (exports filled in at integration)."""
