"""The Celery worker: runs ssnas_core jobs for the service and keeps the job rows truthful."""
