"""/jobs: submit, list, poll, metrics and logs by cursor, cancel, retry, genotype."""

from __future__ import annotations

import hashlib
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from ..deps import DbDep, OwnerDep, SettingsDep
from ..genotype_svg import genotype_svg
from ..schemas import JobCreate, JobOut, JobPage, LogPage, MetricPage, Status
from ..services import jobs as svc
from ..services.models import job_genotype
from .common import responses

router = APIRouter(prefix="/jobs", tags=["jobs"])
Limit = Annotated[int, Query(ge=1, le=1000)]
After = Annotated[int, Query(ge=0, le=2**31 - 1)]
NO_GENOTYPE = "no genotype yet"


@router.post("", status_code=202, response_model=JobOut,
             responses=responses(400, 404, 413, 429, _404="dataset not found",
                                 _413="the owner's storage quota is used up"))
async def create_job(body: JobCreate, db: DbDep, owner: OwnerDep, settings: SettingsDep) -> JobOut:
    """Submit a search job; answers at once with the queued job."""
    return await db.run(svc.create_job, owner, body, settings)


@router.get("", response_model=JobPage, responses=responses())
async def list_jobs(db: DbDep, owner: OwnerDep, status: Status | None = None, limit: Limit = 50,
                    offset: After = 0) -> JobPage:
    """Your jobs, newest first, optionally filtered by status, one page at a time."""
    return await db.read(svc.list_jobs, owner, status, limit, offset)


@router.get("/{job_id}", response_model=JobOut,
            responses={304: {"description": "unchanged since the ETag sent"}, **responses(404)})
async def get_job(job_id: str, db: DbDep, owner: OwnerDep, request: Request) -> Response:
    """Status, stage, progress, ETA, attempt, latest metrics and error of one job.

    The response carries an ``ETag``; a poller that sends it back as ``If-None-Match`` gets
    ``304 Not Modified`` (no body) while the job is unchanged."""
    body = (await db.point_read(svc.read_job, owner, job_id)).model_dump_json().encode()
    etag = f'"{hashlib.blake2b(body, digest_size=12).hexdigest()}"'
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers={"ETag": etag})
    return Response(body, media_type="application/json", headers={"ETag": etag})


@router.get("/{job_id}/metrics", response_model=MetricPage, responses=responses(404))
async def job_metrics(job_id: str, db: DbDep, owner: OwnerDep, after: After = 0,
                      limit: Limit = 500) -> MetricPage:
    """Per-epoch metric rows with seq > after (poll with the returned next_after)."""
    return await db.read(svc.metrics_page, owner, job_id, after, limit)


@router.get("/{job_id}/logs", response_model=LogPage, responses=responses(404))
async def job_logs(job_id: str, db: DbDep, owner: OwnerDep, after: After = 0,
                   limit: Limit = 500) -> LogPage:
    """Log lines of the job with seq > after."""
    return await db.read(svc.logs_page, owner, job_id, after, limit)


@router.post("/{job_id}/cancel", response_model=JobOut,
             responses=responses(404, 409, _409="the job already finished"))
async def cancel_job(job_id: str, db: DbDep, owner: OwnerDep) -> JobOut:
    """Cancel: a queued job never starts; a running one stops at its next step."""
    return await db.run(svc.cancel_job, owner, job_id)


@router.post("/{job_id}/retry", status_code=202, response_model=JobOut,
             responses=responses(404, 409, 413, 429, _409="not failed or cancelled, or its dataset was deleted",
                                 _413="the owner's storage quota is used up"))
async def retry_job(job_id: str, db: DbDep, owner: OwnerDep, settings: SettingsDep) -> JobOut:
    """Requeue a failed or cancelled job; it resumes from its last checkpoint."""
    return await db.run(svc.retry_job, owner, job_id, settings)


@router.get("/{job_id}/genotype", responses=responses(404, 409, _409=NO_GENOTYPE))
async def get_genotype(job_id: str, db: DbDep, owner: OwnerDep) -> dict[str, Any]:
    """The architecture the search found, as genotype JSON."""
    return await db.run(job_genotype, owner, job_id)


@router.get("/{job_id}/genotype.svg", response_class=Response,
            responses={200: {"content": {"image/svg+xml": {"schema": {"type": "string"}}}},
                       **responses(404, 409, _409=NO_GENOTYPE)})
async def get_genotype_svg(job_id: str, db: DbDep, owner: OwnerDep) -> Response:
    """A diagram of the found architecture (input nodes, cells with their ops, edges)."""
    genotype = await db.run(job_genotype, owner, job_id)
    return Response(genotype_svg(genotype), media_type="image/svg+xml")
