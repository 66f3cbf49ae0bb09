"""Git-hosting providers: commit statuses (and, later, change-request comments and dispatches)."""
