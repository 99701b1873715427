"""The registry client (pull, push, login) and, later, the registry server: OCI distribution-spec v1.1."""
