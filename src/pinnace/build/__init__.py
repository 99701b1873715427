"""The Dockerfile builder (``pinnace build``)."""
