"""Providers that publish through AWS APIs (boto3, imported on first delivery only)."""
