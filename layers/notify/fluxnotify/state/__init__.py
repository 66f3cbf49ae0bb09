"""Every store, one module per kind, SQLite (serve's file) and DynamoDB side by side.

dedup (the receiver's duplicate window), ledger (what a message delivered), digests (digest
windows), threads (Slack thread parents), status (delivery outcomes per Provider and Alert).
"""
