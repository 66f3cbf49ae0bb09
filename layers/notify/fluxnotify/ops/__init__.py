"""What people run: the command line, the local stack, render, validate, replay, import/export."""
