"""`aistack verify-nodes`: are these machines ready to join the AI stack? (testinfra host checks)."""
