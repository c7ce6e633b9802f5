"""Read-only queries that build the API's lists (run inside a read hop)."""
