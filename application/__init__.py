"""The extask application layer: the ExternalTaskService use cases, their DTOs, queries, errors and ports.

Depends on the domain only; persistence and transport are supplied from outside through the ports.
"""
