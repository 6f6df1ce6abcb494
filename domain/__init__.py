"""The extask domain: the ExternalTask and ProcessInstance aggregates and their events.

Pure: depends only on the standard library and ``eventsourcing.domain``.
"""
