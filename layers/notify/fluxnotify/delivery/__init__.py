"""The delivery core: routing, the planner and its stages, the executor (dispatcher.py)."""
