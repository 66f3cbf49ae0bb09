"""Provider options and their resolution; the config stores: AWS (SSM + Secrets Manager) and files (YAML)."""
