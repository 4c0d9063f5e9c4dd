"""`/api/v1/sandbox/*`: one router that each sandbox adds its routes to (development only)."""

from __future__ import annotations

from fastapi import APIRouter

from commerce.sandbox import mailbox, streams, video
from commerce.sandbox.payments.router import router as payments_router

router = APIRouter(prefix="/sandbox", tags=["sandbox"])
router.include_router(streams.router)
router.include_router(mailbox.router)
router.include_router(payments_router)
router.include_router(video.router)
