"""extask's infrastructure: persistence, the REST API, the command line and the composition root."""
