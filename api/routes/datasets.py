"""/datasets: streamed upload with validation, list, read, delete."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from ssnas_core.data.formats import GUIDE

from ..deps import DbDep, OwnerDep, SettingsDep
from ..schemas import DatasetList, DatasetOut
from ..services import datasets as svc
from .common import responses

router = APIRouter(prefix="/datasets", tags=["datasets"])

UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {"schema": {
                "type": "object", "required": ["file"],
                "properties": {"file": {"type": "string", "format": "binary"},
                               "name": {"type": "string", "description": "display name"}}}},
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
        },
    },
    "parameters": [{"name": "filename", "in": "query", "required": False,
                    "schema": {"type": "string"},
                    "description": "file name for an application/octet-stream body"}],
}
ERRORS = responses(400, 413, 415, _413="larger than the upload limit or the owner's storage quota",
                   _415="not a known dataset format",
                   _422="a known format with invalid content (the validator's message)")
Offset = Annotated[int, Query(ge=0, le=2**31 - 1)]


@router.post("", status_code=201, response_model=DatasetOut, openapi_extra=UPLOAD_BODY,
             responses=ERRORS, summary="Upload a dataset",
             description="Upload a dataset: a generic archive, an MM-IMDB raw archive, MM-IMDB's "
                         "HDF5 file, a zipped feature folder or the AV-MNIST pack.\n\n" + GUIDE)
async def upload_dataset(request: Request, db: DbDep, owner: OwnerDep,
                         settings: SettingsDep) -> DatasetOut:
    """Upload a dataset (the formats: ``ssnas_core.data.formats.GUIDE``)."""
    return await svc.create_dataset(request, db, owner, settings)


@router.get("", response_model=DatasetList, responses=responses())
async def list_datasets(db: DbDep, owner: OwnerDep, limit: Annotated[int, Query(ge=1, le=1000)] = 50,
                        offset: Offset = 0) -> DatasetList:
    """Your datasets, newest first, one page at a time (``total`` counts them all)."""
    return await db.read(svc.list_datasets, owner, limit, offset)


@router.get("/{dataset_id}", response_model=DatasetOut, responses=responses(404))
async def get_dataset(dataset_id: str, db: DbDep, owner: OwnerDep) -> DatasetOut:
    """One dataset with its summary."""
    return await db.run(svc.read_dataset, owner, dataset_id)


@router.delete("/{dataset_id}", status_code=204,
               responses=responses(404, 409, _409="a queued or running job uses it"))
async def delete_dataset(dataset_id: str, db: DbDep, owner: OwnerDep) -> Response:
    """Delete a dataset and its files (refused while a job uses it)."""
    await db.run(svc.delete_dataset, owner, dataset_id)
    return Response(status_code=204)
