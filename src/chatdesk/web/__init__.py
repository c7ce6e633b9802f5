"""The HTTP layer: thin handlers, middleware and error rendering."""
