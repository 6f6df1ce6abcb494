"""Persistence: the event store configuration, its recorders, and the read models projected from it."""
