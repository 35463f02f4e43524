"""Request and response bodies of the REST API (they also make the OpenAPI document at /docs)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from pipeline.api.config import MAX_QUALITY, MIN_QUALITY


class TryOnOptions(BaseModel):
    """The optional ``options`` form field of ``POST /api/v1/tryon`` (JSON)."""

    # strict: "yes" is not a boolean and "95" not a quality; JSON has types, the client must use them.
    model_config = ConfigDict(extra="forbid", strict=True)

    output_format: Literal["jpeg", "png"] | None = Field(None, description="result encoding (default from config: jpeg)")
    quality: int | None = Field(None, ge=MIN_QUALITY, le=MAX_QUALITY, description="JPEG quality, 85-100")
    return_mask: bool = Field(False, description="also return the garment area as a PNG mask")
    category: Literal["upper_body", "lower_body", "dresses"] | None = Field(
        None, description="the garment's category (default: the model's, or the garment's outline for a model trained "
        "on several); one the model was not trained for is answered 422 category_not_trained")


class ErrorDetail(BaseModel):
    code: str = Field(description="machine-readable slug, e.g. no_person, upload_too_large, queue_full")
    message: str


class ErrorResponse(BaseModel):
    """Every non-2xx answer has this body."""

    status: Literal["error"] = "error"
    error: ErrorDetail


class TryOnResponse(BaseModel):
    status: Literal["ok"] = "ok"
    result: str = Field(description="the try-on image, base64 of the encoded file")
    mask: str | None = Field(None, description="base64 PNG (8-bit grey) of where the garment shows (its composition weight, 0-255) at the result's size, when return_mask")
    processing_time: float = Field(description="seconds spent on this request on the server (queue wait included)")
    metadata: dict[str, Any] = Field(default_factory=dict)


class HealthResponse(BaseModel):
    status: Literal["ok", "degraded"] = Field(description="degraded while no model is loaded")
    model_loaded: bool
    model: str | None = Field(None, description="which model answers: a models:/ URI, a folder, or the shipped model")
    model_source: str | None = Field(None, description="why that one: explicit, registered, pipeline or shipped")
    gpu_available: bool
    version: str
    queue_in_flight: int = Field(description="try-ons running or waiting now")
    queue_capacity: int = Field(description="running + waiting try-ons accepted before answering 503")
    detail: str | None = Field(None, description="why the model is not loaded, and how to fix it")


class BatchItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    person_url: str = Field(max_length=2048)
    garment_url: str = Field(max_length=2048)


class BatchRequest(BaseModel):
    """``POST /api/v1/batch``: pairs of image URLs (http or https) and options for every result."""

    model_config = ConfigDict(extra="forbid")

    items: list[BatchItem] = Field(min_length=1)
    options: TryOnOptions = Field(default_factory=TryOnOptions)


class BatchAccepted(BaseModel):
    status: Literal["accepted"] = "accepted"
    job_id: str
    items: int


class BatchItemStatus(BaseModel):
    index: int
    status: Literal["pending", "ok", "error", "interrupted"] = Field(
        description="interrupted: the server stopped before the item ran (POST .../resume submits such items again)")
    person_url: str
    garment_url: str
    result_url: str | None = Field(None, description="GET it for the try-on picture (JPEG or PNG)")
    mask_url: str | None = Field(None, description="GET it for the garment-area mask (PNG), when return_mask")
    processing_time: float | None = None
    metadata: dict[str, Any] | None = None
    error: ErrorDetail | None = None


class BatchStatus(BaseModel):
    job_id: str
    status: Literal["queued", "running", "done", "interrupted"] = Field(
        description="interrupted: the server stopped while the job ran; its finished items are kept")
    total: int
    completed: int = Field(description="items finished, successfully or not")
    succeeded: int
    failed: int
    interrupted: int = Field(0, description="items that never ran because the server stopped")
    pending: int = Field(0, description="items still to run; completed + interrupted + pending = total")
    created_at: float
    finished_at: float | None = None
    expires_at: float | None = Field(None, description="when a finished job is forgotten (Unix time)")
    items: list[BatchItemStatus]
