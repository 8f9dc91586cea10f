"""The MongoDB replica set across regions: per-region members (RegionDatabase) and the stack-wide
private DNS zones and reconcile Job (ReplicaSet)."""
