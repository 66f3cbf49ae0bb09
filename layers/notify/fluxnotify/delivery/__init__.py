"""From a queued message to sent notifications: dispatcher, per-provider pipeline, routing."""
