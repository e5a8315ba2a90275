"""The upstream side: processes, connections, the pool and the merged catalog."""
