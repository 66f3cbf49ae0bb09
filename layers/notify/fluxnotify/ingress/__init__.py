"""The door: the receiver (auth, limits, validation, enqueue) and the duplicate store."""
