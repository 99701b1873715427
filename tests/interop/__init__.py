"""pinnace against the real peers of the containers ecosystem: podman, skopeo, umoci."""
