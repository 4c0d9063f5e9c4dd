"""Code shared by the commerce API, the realtime gateway and the Celery workers."""
