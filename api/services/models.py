"""Trained models: read, list, stream weights, and the genotype of a job."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from store.db import SessionLocal
from store.storage import read_chunk
from store.tables import SUCCEEDED, Checkpoint, Job, Model

from ..errors import Conflict
from ..schemas import ModelList, ModelOut
from .jobs import get_job
from .owned import get_owned


def get_model(session: Session, owner_id: str, model_id: str) -> Model:
    return get_owned(session, Model, owner_id, model_id, "model")


def model_out(session: Session, model: Model) -> ModelOut:
    out = ModelOut.model_validate(model)
    ckpt = session.get(Checkpoint, model.checkpoint_id)
    if ckpt is not None:
        out.weights_size, out.weights_sha256 = ckpt.size, ckpt.sha256
    return out


def read_model(session: Session, owner_id: str, model_id: str) -> ModelOut:
    return model_out(session, get_model(session, owner_id, model_id))


def list_models(session: Session, owner_id: str) -> ModelList:
    rows = session.scalars(select(Model).where(Model.owner_id == owner_id)
                           .order_by(Model.created_at.desc(), Model.id)).all()
    return ModelList(items=[model_out(session, m) for m in rows])


def weights_info(session: Session, owner_id: str, model_id: str) -> tuple[str, int, str]:
    """(checkpoint id, size, sha256) of the model's weights; 409 if they are incomplete."""
    model = get_model(session, owner_id, model_id)
    ckpt = session.get(Checkpoint, model.checkpoint_id)
    if ckpt is None or not ckpt.complete:
        raise Conflict(f"model {model_id}: its weights are not stored completely")
    return ckpt.id, ckpt.size, ckpt.sha256


def stream_weights(checkpoint_id: str) -> Iterator[bytes]:
    """Chunks of the checkpoint, each read with a short session of its own (a slow client
    never holds a pooled connection between chunks)."""
    seq = 0
    while True:
        with SessionLocal() as session:
            data = read_chunk(session, checkpoint_id, seq)
        if data is None:
            return
        yield data
        seq += 1


def job_genotype(session: Session, owner_id: str, job_id: str) -> dict[str, Any]:
    """The genotype the job found: from its result, else from its model; 409 if none yet."""
    job: Job = get_job(session, owner_id, job_id)
    genotype = (job.result or {}).get("genotype")
    if genotype is None:
        genotype = session.scalar(select(Model.genotype).where(Model.job_id == job.id)
                                  .order_by(Model.created_at.desc()).limit(1))
    if genotype is None:
        state = job.status if job.status != SUCCEEDED else "finished without a genotype"
        raise Conflict(f"job {job_id} has no genotype yet (status: {state})")
    return genotype
