"""/jobs: submit, list, poll, metrics and logs by cursor, cancel, retry, genotype."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from ..deps import OwnerDep, SessionDep, SettingsDep
from ..genotype_svg import genotype_svg
from ..schemas import JobCreate, JobOut, JobPage, LogOut, LogPage, MetricOut, MetricPage, Status
from ..services import jobs as svc
from ..services.models import job_genotype

router = APIRouter(prefix="/jobs", tags=["jobs"])
Limit = Annotated[int, Query(ge=1, le=1000)]


@router.post("", status_code=202, response_model=JobOut,
             responses={404: {"description": "dataset not found"},
                        422: {"description": "spec out of range"},
                        429: {"description": "too many unfinished jobs"}})
def create_job(body: JobCreate, session: SessionDep, owner: OwnerDep,
               settings: SettingsDep) -> JobOut:
    """Submit a search job; answers at once with the queued job."""
    return svc.job_out(session, svc.create_job(session, owner, body, settings))


@router.get("", response_model=JobPage)
def list_jobs(session: SessionDep, owner: OwnerDep, status: Status | None = None,
              limit: Limit = 50, offset: Annotated[int, Query(ge=0)] = 0) -> JobPage:
    """Your jobs, newest first, optionally filtered by status, one page at a time."""
    rows, total = svc.list_jobs(session, owner, status, limit, offset)
    return JobPage(items=[JobOut.model_validate(j) for j in rows], total=total, limit=limit,
                   offset=offset)


@router.get("/{job_id}", response_model=JobOut)
def get_job(job_id: str, session: SessionDep, owner: OwnerDep) -> JobOut:
    """Status, stage, progress, ETA, attempt, latest metrics and error of one job."""
    return svc.job_out(session, svc.get_job(session, owner, job_id))


@router.get("/{job_id}/metrics", response_model=MetricPage)
def job_metrics(job_id: str, session: SessionDep, owner: OwnerDep,
                after: Annotated[int, Query(ge=0)] = 0, limit: Limit = 500) -> MetricPage:
    """Per-epoch metric rows with seq > after (poll with the returned next_after)."""
    rows = svc.metrics_after(session, svc.get_job(session, owner, job_id), after, limit)
    return MetricPage(items=[MetricOut.model_validate(r) for r in rows],
                      next_after=rows[-1].seq if rows else after)


@router.get("/{job_id}/logs", response_model=LogPage)
def job_logs(job_id: str, session: SessionDep, owner: OwnerDep,
             after: Annotated[int, Query(ge=0)] = 0, limit: Limit = 500) -> LogPage:
    """Log lines of the job with seq > after."""
    rows = svc.logs_after(session, svc.get_job(session, owner, job_id), after, limit)
    return LogPage(items=[LogOut.model_validate(r) for r in rows],
                   next_after=rows[-1].seq if rows else after)


@router.post("/{job_id}/cancel", response_model=JobOut,
             responses={409: {"description": "the job already finished"}})
def cancel_job(job_id: str, session: SessionDep, owner: OwnerDep) -> JobOut:
    """Cancel: a queued job never starts; a running one stops at its next step."""
    return svc.job_out(session, svc.cancel_job(session, owner, job_id))


@router.post("/{job_id}/retry", status_code=202, response_model=JobOut,
             responses={409: {"description": "not failed or cancelled"}})
def retry_job(job_id: str, session: SessionDep, owner: OwnerDep,
              settings: SettingsDep) -> JobOut:
    """Requeue a failed or cancelled job; it resumes from its last checkpoint."""
    return svc.job_out(session, svc.retry_job(session, owner, job_id, settings))


@router.get("/{job_id}/genotype", responses={409: {"description": "no genotype yet"}})
def get_genotype(job_id: str, session: SessionDep, owner: OwnerDep) -> dict[str, Any]:
    """The architecture the search found, as genotype JSON."""
    return job_genotype(session, owner, job_id)


@router.get("/{job_id}/genotype.svg", response_class=Response,
            responses={200: {"content": {"image/svg+xml": {}}},
                       409: {"description": "no genotype yet"}})
def get_genotype_svg(job_id: str, session: SessionDep, owner: OwnerDep) -> Response:
    """A diagram of the found architecture (input nodes, cells with their ops, edges)."""
    return Response(genotype_svg(job_genotype(session, owner, job_id)), media_type="image/svg+xml")
