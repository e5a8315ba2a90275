"""Client identity: bearer tokens for the HTTP front (stdio clients are the local OS user)."""
