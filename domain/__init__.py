"""The extask domain: the ExternalTask, ProcessInstance and Batch aggregates and their events.

Every event class declares its ``class_version``; when its fields change, the version goes up and
a static ``upcast_vN_vN+1`` brings older stored states up to date as they are loaded.

Pure: depends only on the standard library and ``eventsourcing.domain``.
"""
