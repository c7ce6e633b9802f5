"""Work that happens off any request: the outbox of jobs to send and the worker that sends them."""
