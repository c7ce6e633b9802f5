"""Where attachments' bytes live: one small interface (:class:`FileStore`) with a local
directory (``local.py``, the default) and S3-compatible object storage (``s3.py``)."""
