"""Stream providers: the event itself forwarded to a webhook or an event bus."""
