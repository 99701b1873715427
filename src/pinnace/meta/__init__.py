"""The metadata database: SQLite in WAL mode, the only transactional state.

Images, tags, snapshot records and (later) containers, volumes and networks
live here.  Blobs and snapshot directories live on disk, but whether they are
alive is decided here, by reachability from roots (see :mod:`pinnace.meta.gc`).
"""
