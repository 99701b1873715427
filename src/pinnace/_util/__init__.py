"""Small helpers every layer may use: durable files and cross-process locks."""
