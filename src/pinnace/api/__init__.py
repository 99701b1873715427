"""The Docker Engine API front (``pinnace system service``): the same services the CLI calls."""
