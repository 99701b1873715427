"""Pure OCI / Docker data types: digests, descriptors, media types, manifests,
indexes, image configs, platforms and references.  No I/O lives here."""
