"""All `/api/v1` routers, mounted in one place."""

from __future__ import annotations

from fastapi import APIRouter

from commerce.analytics.router import router as analytics_router
from commerce.auth.router import router as auth_router
from commerce.auth.social.router import router as social_auth_router
from commerce.auth.twofactor_router import router as two_factor_router
from commerce.carts.router import router as carts_router
from commerce.catalog.router import router as catalog_router
from commerce.follows.router import router as follows_router
from commerce.media.router import router as media_router
from commerce.notifications.router import router as notifications_router
from commerce.orders.router import router as orders_router
from commerce.payments.router import router as payments_router
from commerce.streams.router import router as streams_router
from commerce.users.router import router as users_router

api_router = APIRouter(prefix="/api/v1")
api_router.include_router(auth_router)
api_router.include_router(two_factor_router)
api_router.include_router(social_auth_router)
api_router.include_router(users_router)
api_router.include_router(notifications_router)
api_router.include_router(follows_router)
api_router.include_router(catalog_router)
api_router.include_router(carts_router)
api_router.include_router(orders_router)
api_router.include_router(payments_router)
api_router.include_router(streams_router)
api_router.include_router(media_router)
api_router.include_router(analytics_router)
