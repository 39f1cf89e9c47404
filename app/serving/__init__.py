"""What serving holds in memory: the catalog snapshot and its filters, the ranking, the
kept answers, and the state that ties a checkpoint to a catalog (`state`)."""
