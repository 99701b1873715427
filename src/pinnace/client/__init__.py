"""The Engine API client: the remote side of the CLI (``pinnace -H URL``, ``PINNACE_HOST``/``DOCKER_HOST``,
contexts).

:class:`pinnace.client.engine.RemoteEngine` offers the attributes and method signatures of the local
:class:`pinnace.engine.Engine` that the CLI's commands call (podman's "tunnel" beside its "abi"), so a
command module runs unchanged against either.  Nothing here is imported on the local path.
"""
