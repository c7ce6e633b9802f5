"""Storage: tables, engines, the unit-of-work runner and migrations."""
