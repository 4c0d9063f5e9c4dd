"""The provider fakes refuse what the real providers refuse, so an adapter that drops or
misformats a field fails the suite instead of passing against a lenient fake."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import pytest

from commerce.payment_wire import linepay_sign
from commerce.payment_wire.ecpay_mac import check_mac_value
from commerce.payment_wire.phpurl import php_build_query
from tests.fakes.payments.ecpay import HASH_IV, HASH_KEY, MERCHANT_ID, FakeEcpay
from tests.fakes.payments.linepay import CHANNEL_ID, CHANNEL_SECRET, FakeLinepay


def _aio(**overrides: str | None) -> dict[str, str]:
    fields = {
        "MerchantID": MERCHANT_ID, "MerchantTradeNo": "LC20241124000001",
        "MerchantTradeDate": "2024/11/24 12:00:00", "PaymentType": "aio", "TotalAmount": "2580",
        "TradeDesc": "Live commerce order", "ItemName": "耳機 x 2",
        "ReturnURL": "https://shop.test/api/v1/payments/webhooks/ecpay",
        "ChoosePayment": "ALL", "EncryptType": "1",
    }
    for name, value in overrides.items():
        if value is None:
            fields.pop(name)
        else:
            fields[name] = value
    fields["CheckMacValue"] = check_mac_value(fields, HASH_KEY, HASH_IV)
    return fields


async def _checkout(fake: FakeEcpay, fields: dict[str, str]) -> httpx.Response:
    async with httpx.AsyncClient(base_url=fake.base_url) as client:
        return await client.post(
            "/Cashier/AioCheckOut/V5", content=php_build_query(fields.items()),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"ItemName": None}, "ItemName"),
        ({"ReturnURL": None}, "ReturnURL"),
        ({"MerchantTradeDate": "2024-11-24 12:00:00"}, "MerchantTradeDate"),
        ({"MerchantTradeNo": "LC-2024-11-24-000001"}, "MerchantTradeNo"),  # alphanumeric only
        ({"MerchantTradeNo": "L" * 21}, "MerchantTradeNo"),
        ({"TotalAmount": "2580.00"}, "TotalAmount"),  # whole TWD
        ({"TotalAmount": "0"}, "TotalAmount"),
        ({"PaymentType": "credit"}, "PaymentType"),
        ({"ChoosePayment": "Bitcoin"}, "ChoosePayment"),
        ({"EncryptType": "0"}, "EncryptType"),
        ({"TradeDesc": ""}, "TradeDesc"),
    ],
)
async def test_ecpay_fake_refuses_missing_and_misformatted_fields(
    fake_ecpay: FakeEcpay, override: dict[str, str | None], field: str
) -> None:
    refused = await _checkout(fake_ecpay, _aio(**override))
    assert refused.status_code == 400
    assert field in refused.text
    assert fake_ecpay.trades == {}


async def test_ecpay_fake_takes_a_valid_order_once(fake_ecpay: FakeEcpay) -> None:
    assert (await _checkout(fake_ecpay, _aio())).status_code == 200
    duplicate = await _checkout(fake_ecpay, _aio())
    assert duplicate.status_code == 400 and "duplicate" in duplicate.text


def _linepay_request(**changes: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "amount": 2580, "currency": "TWD", "orderId": "LC20241124000001",
        "packages": [{"id": "order", "amount": 2580, "name": "Live commerce",
                      "products": [{"name": "耳機", "quantity": 2, "price": 1290}]}],
        "redirectUrls": {"confirmUrl": "https://shop.test/confirm",
                         "cancelUrl": "https://shop.test/cancel"},
    }
    payload.update(changes)
    return payload


async def _request(fake: FakeLinepay, payload: dict[str, Any]) -> dict[str, Any]:
    body = linepay_sign.dumps(payload)
    path = "/v3/payments/request"
    headers = linepay_sign.auth_headers(CHANNEL_ID, CHANNEL_SECRET, path, body)
    async with httpx.AsyncClient(base_url=fake.base_url) as client:
        reply = await client.post(path, content=body,
                                  headers={**headers, "Content-Type": "application/json"})
    result: dict[str, Any] = linepay_sign.loads(reply.content)
    return result


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"amount": 2581}, "2101"),  # not the sum of the packages
        ({"packages": [{"id": "order", "amount": 2580, "name": "x",
                        "products": [{"name": "耳機", "quantity": 3, "price": 1290}]}]}, "2101"),
        ({"packages": []}, "2101"),
        ({"redirectUrls": {"confirmUrl": "https://shop.test/confirm"}}, "2101"),
        ({"redirectUrls": None}, "2101"),
        ({"amount": Decimal("2580.50")}, "1124"),  # TWD has no decimals at LINE Pay
        ({"currency": "EUR"}, "2101"),
        ({"orderId": ""}, "2101"),
    ],
)
async def test_linepay_fake_refuses_what_linepay_refuses(
    fake_linepay: FakeLinepay, changes: dict[str, Any], code: str
) -> None:
    reply = await _request(fake_linepay, _linepay_request(**changes))
    assert reply["returnCode"] == code, reply
    assert fake_linepay.payments == {}


async def test_linepay_fake_takes_a_request_whose_amounts_add_up(
    fake_linepay: FakeLinepay,
) -> None:
    reply = await _request(fake_linepay, _linepay_request())
    assert reply["returnCode"] == "0000", reply
    thb = _linepay_request(
        amount=Decimal("99.50"), currency="THB",
        packages=[{"id": "o", "amount": Decimal("99.50"), "name": "x",
                   "products": [{"name": "p", "quantity": 1, "price": Decimal("99.50")}]}],
    )
    assert (await _request(fake_linepay, thb))["returnCode"] == "0000"
