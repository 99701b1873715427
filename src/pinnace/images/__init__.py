"""Images: records, references, unpacking, and import/save/load.

An image here is what docker means by one: an ID (the digest of its config),
the manifest it came with, its layers unpacked into snapshots keyed by chain
ID, and any number of tags.  Records live in pinnace.db; bytes live in the
content store; unpacked trees live in the snapshotter.
"""
