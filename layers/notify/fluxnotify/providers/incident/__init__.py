"""Incident providers: alerts for on-call and observability services."""
