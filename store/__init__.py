"""The shared layer under the API (``api``) and the workers (``worker``): both import it, neither
imports the other, and nothing here imports torch, FastAPI or the worker's task code.

- ``settings``: the shared SSNAS_* settings (database, broker, storage, limits);
- ``db``: engines, sessions, ``session_scope`` and ``after_commit``;
- ``tables``: the SQLAlchemy tables (the job row is the job's truth);
- ``jobs``: the job state machine (create, claim, beat, finish, cancel, retry, hand back, requeue
  lost), its one ownership check and its one meaning of attempts;
- ``spec``: the typed job spec, built once by the API and read as is by the worker;
- ``storage``: where bytes live (dataset files under keys relative to the storage root, feature
  caches inside their dataset's folder, checkpoint blobs as chunk rows);
- ``quotas``: per-owner storage and job limits;
- ``broker``: the Celery app both sides share, its task name and queues;
- ``logs``: the JSON log format; ``errors``: errors that carry their HTTP status.

Commit convention (one for the whole service): a function of this package takes a Session,
may flush, and never commits or rolls back. Whoever opened the session owns the unit of work and
commits it once: ``db.session_scope()`` (worker, reaper, launcher, admin CLI: commit on success,
roll back on error), or an API service function run by ``Db.run``, which commits before it
returns and before it rings the broker (a doorbell is only sent for committed rows; in the worker
through ``db.after_commit``).
"""
