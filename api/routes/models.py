"""/models: read, download weights, predict."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from ..deps import DbDep, OwnerDep
from ..errors import Invalid, PayloadTooLarge, UnsupportedMediaType
from ..schemas import ModelList, ModelOut, PredictOut, PredictRequest
from ..services import models as svc
from ..services import predictions
from .common import responses

router = APIRouter(prefix="/models", tags=["models"])
MAX_PREDICT_BYTES = 32 * 1024 * 1024
BINARY = {"type": "string", "format": "binary"}

PREDICT_BODY = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": PredictRequest.model_json_schema()},
    "multipart/form-data": {"schema": {
        "type": "object", "additionalProperties": True,
        "description": "one part per raw field (e.g. poster: image file, plot: text); repeat "
                       "each field for a batch"}}}}}


@router.get("", response_model=ModelList, responses=responses())
async def list_models(db: DbDep, owner: OwnerDep) -> ModelList:
    """Your trained models, newest first."""
    return await db.run(svc.list_models, owner)


@router.get("/{model_id}", response_model=ModelOut, responses=responses(404))
async def get_model(model_id: str, db: DbDep, owner: OwnerDep) -> ModelOut:
    """A model: genotype, metrics, label names, threshold, input nodes, backbones."""
    return await db.run(svc.read_model, owner, model_id)


@router.get("/{model_id}/weights", response_class=StreamingResponse,
            responses={200: {"content": {"application/octet-stream": {"schema": BINARY}}},
                       **responses(404, 409, _409="the weights are not stored completely")})
async def get_weights(model_id: str, db: DbDep, owner: OwnerDep) -> StreamingResponse:
    """Download the model checkpoint (.safetensors), streamed from the database."""
    ckpt_id, size, sha256 = await db.run(svc.weights_info, owner, model_id)
    headers = {"Content-Length": str(size), "X-Checksum-SHA256": sha256,
               "Content-Disposition": f'attachment; filename="model-{model_id}.safetensors"'}
    return StreamingResponse(svc.stream_weights(ckpt_id), media_type="application/octet-stream",
                             headers=headers)


async def _multipart_samples(request: Request, loaded: Any) -> list[dict[str, Any]]:
    form = await request.form(max_files=256, max_fields=256)
    columns: dict[str, list[Any]] = {}
    for key, value in form.multi_items():
        if isinstance(value, UploadFile):
            if (value.size or 0) > MAX_PREDICT_BYTES:
                raise PayloadTooLarge(f"field {key!r}: larger than {MAX_PREDICT_BYTES} bytes")
            value = await run_in_threadpool(predictions.decode_bytes, key, await value.read(), loaded)
        else:  # text, or a vector written as "[1, 2]"
            value = await run_in_threadpool(predictions.decode_value, key, value, loaded)
        columns.setdefault(key, []).append(value)
    sizes = {len(v) for v in columns.values()}
    if not columns or len(sizes) != 1:
        raise Invalid("multipart predict: every field must appear the same number of times")
    n = sizes.pop()
    return [{k: v[i] for k, v in columns.items()} for i in range(n)]


def _not_a_number(token: str) -> float:
    raise ValueError(f"{token} is not a number here (inputs must be finite)")


async def _json_request(request: Request, loaded: Any) -> tuple[list[dict] | None, dict | None]:
    body = await request.body()
    if len(body) > MAX_PREDICT_BYTES:
        raise PayloadTooLarge(f"predict body larger than {MAX_PREDICT_BYTES} bytes")
    try:
        req = PredictRequest.model_validate(json.loads(body, parse_constant=_not_a_number))
    except (ValueError, ValidationError) as exc:
        raise Invalid(f"invalid predict request: {str(exc)[:500]}") from exc
    given = [x is not None for x in (req.inputs, req.batch, req.features)]
    if sum(given) != 1:
        raise Invalid("send exactly one of 'inputs', 'batch' or 'features'")
    if req.features is not None:
        return None, req.features
    raw = [req.inputs] if req.inputs is not None else req.batch
    if not raw:
        raise Invalid("'batch' must not be empty")

    def decode() -> list[dict]:
        return [{k: predictions.decode_value(k, v, loaded) for k, v in s.items()} for s in raw]

    return await run_in_threadpool(decode), None


@router.post("/{model_id}/predict", response_model=PredictOut, openapi_extra=PREDICT_BODY,
             responses=responses(400, 404, 409, 413, 415, _422="inputs do not fit the model",
                                 _409="the model's weights are not stored completely"))
async def predict(model_id: str, request: Request, db: DbDep, owner: OwnerDep) -> PredictOut:
    """Per-label probabilities and predicted labels for raw inputs or precomputed features."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype not in ("application/json", "multipart/form-data"):
        raise UnsupportedMediaType("send application/json or multipart/form-data")
    loaded = await db.run(predictions.load, owner, model_id)
    if ctype == "application/json":
        samples, features = await _json_request(request, loaded)
    else:
        samples, features = await _multipart_samples(request, loaded), None
    return await run_in_threadpool(predictions.infer, loaded, model_id, samples, features)
