"""Email in: the inbound SMTP listener (``listener.py``) that turns replies by email into
visitor messages, and the reply's own text without quoted history (``reply_text.py``)."""
