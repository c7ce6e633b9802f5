"""Every write chatdesk makes, one module per noun.

An action runs inside a :class:`chatdesk.db.runner.Unit`: it makes its change,
appends the events clients must see in the same transaction, and leaves the
wake-up to the writer, which publishes it after commit.
"""
