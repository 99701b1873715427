"""``pinnace registry serve``: an OCI distribution-spec v1.1 registry (storage in :mod:`.storage`, HTTP in :mod:`.app`)."""
