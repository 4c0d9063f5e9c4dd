"""ECPay CheckMacValue against ECPay's own published examples and a real stage notification."""

from __future__ import annotations

import pytest

from commerce.payment_wire.ecpay_mac import (
    check_mac_value,
    ecpay_urlencode,
    mac_source,
    verify_check_mac_value,
)

# ECPay's public stage merchant 3002607 keys, as printed in the docs' example.
STAGE_KEY = "pwFHCqoQZGmho4w6"
STAGE_IV = "EkRm7iFT261dpevs"

# Source: ECPay AIO docs "附錄 / 檢查碼機制", https://developers.ecpay.com.tw/?p=2902
# (English: https://developers.ecpay.com.tw/?p=16623). Input order as published (unsorted).
AIO_EXAMPLE = {
    "TradeDesc": "促銷方案",
    "PaymentType": "aio",
    "MerchantTradeDate": "2023/03/12 15:30:23",
    "MerchantTradeNo": "ecpay20230312153023",
    "MerchantID": "3002607",
    "ReturnURL": "https://www.ecpay.com.tw/receive.php",
    "ItemName": "Apple iphone 15",
    "TotalAmount": "30000",
    "ChoosePayment": "ALL",
    "EncryptType": "1",
}
# Step (3) of the same page, before lower-casing.
AIO_STEP3 = (
    "HashKey%3dpwFHCqoQZGmho4w6%26ChoosePayment%3dALL%26EncryptType%3d1%26ItemName%3dApple+"
    "iphone+15%26MerchantID%3d3002607%26MerchantTradeDate%3d2023%2f03%2f12+15%3a30%3a23%26"
    "MerchantTradeNo%3decpay20230312153023%26PaymentType%3daio%26ReturnURL%3dhttps%3a%2f%2f"
    "www.ecpay.com.tw%2freceive.php%26TotalAmount%3d30000%26TradeDesc%3d%e4%bf%83%e9%8a%b7"
    "%e6%96%b9%e6%a1%88%26HashIV%3dEkRm7iFT261dpevs"
)
# The page's final value (also asserted by many public ECPay SDK ports' tests).
AIO_CHECK_MAC = "6C51C9E6888DE861FD62FB1DD17029FC742634498FD813DC43D4243B5685B840"

# Source: ECPay e-invoice docs "附錄 / 檢查碼機制" (MD5 variant),
# https://developers.ecpay.com.tw/?p=38242 (English: ?p=38243). Note the empty RtnMsg counts.
INVOICE_EXAMPLE = {
    "RtnCode": "1",
    "RtnMsg": "",
    "IA_Allow_No": "1909181313013546",
    "IA_Invoice_No": "UV11100019",
    "IA_Date": "2019-09-18 13:13:23",
    "IIS_Remain_Allowance_Amt": "0",
}
INVOICE_KEY, INVOICE_IV = "ejCk326UnaZWKisg", "q9jcZX8Ib9LM8wYk"
INVOICE_LOWER = (
    "hashkey%3dejck326unazwkisg%26ia_allow_no%3d1909181313013546%26ia_date%3d2019-09-18+13%3a13"
    "%3a23%26ia_invoice_no%3duv11100019%26iis_remain_allowance_amt%3d0%26rtncode%3d1%26rtnmsg%3d"
    "%26hashiv%3dq9jczx8ib9lm8wyk"
)
INVOICE_CHECK_MAC = "50A276E71DAE26343013958B405EEEA0"

# Source: a real ReturnURL notification from ECPay's stage server for merchant 3002607, posted at
# https://www.tshopping.com.tw/thread-265081-1-1.html (RtnMsg shown there mis-decoded as Latin-1;
# the bytes are UTF-8 "交易成功"). Mixed-case keys make it a test of the case-insensitive sort.
REAL_NOTIFICATION = {
    "AlipayID": "",
    "AlipayTradeNo": "",
    "amount": "80800",
    "ATMAccBank": "",
    "ATMAccNo": "",
    "auth_code": "777777",
    "card4no": "2222",
    "card6no": "431195",
    "CustomField1": "",
    "CustomField2": "",
    "CustomField3": "",
    "CustomField4": "",
    "eci": "0",
    "ExecTimes": "",
    "Frequency": "",
    "gwsr": "13955622",
    "MerchantID": "3002607",
    "MerchantTradeNo": "2025101423404152",
    "PayFrom": "",
    "PaymentDate": "2025/10/14 23:35:34",
    "PaymentNo": "",
    "PaymentType": "Credit_CreditCard",
    "PaymentTypeChargeFee": "1981",
    "PeriodAmount": "",
    "PeriodType": "",
    "process_date": "2025/10/14 23:35:34",
    "red_dan": "0",
    "red_de_amt": "0",
    "red_ok_amt": "0",
    "red_yet": "0",
    "RtnCode": "1",
    "RtnMsg": "交易成功",
    "SimulatePaid": "0",
    "staed": "0",
    "stage": "0",
    "stast": "0",
    "StoreID": "",
    "TenpayTradeNo": "",
    "TotalSuccessAmount": "",
    "TotalSuccessTimes": "",
    "TradeAmt": "80800",
    "TradeDate": "2025/10/14 23:35:01",
    "TradeNo": "2510142335016248",
    "WebATMAccBank": "",
    "WebATMAccNo": "",
    "WebATMBankName": "",
    "CheckMacValue": "EE759D314B59ACB73C8B9129620F90964D78C3EDE06B2661C63BB984AC41AC3E",
}


def test_aio_example_intermediate_string_matches_docs() -> None:
    encoded = ecpay_urlencode(mac_source(AIO_EXAMPLE, STAGE_KEY, STAGE_IV))
    assert encoded == AIO_STEP3.lower()


def test_aio_example_sha256() -> None:
    assert check_mac_value(AIO_EXAMPLE, STAGE_KEY, STAGE_IV) == AIO_CHECK_MAC


def test_invoice_example_md5_with_empty_value() -> None:
    source = mac_source(INVOICE_EXAMPLE, INVOICE_KEY, INVOICE_IV)
    assert ecpay_urlencode(source) == INVOICE_LOWER
    assert check_mac_value(INVOICE_EXAMPLE, INVOICE_KEY, INVOICE_IV, "md5") == INVOICE_CHECK_MAC


def test_dropping_an_empty_field_changes_the_mac() -> None:
    without = {k: v for k, v in INVOICE_EXAMPLE.items() if k != "RtnMsg"}
    assert check_mac_value(without, INVOICE_KEY, INVOICE_IV, "md5") != INVOICE_CHECK_MAC


def test_real_notification_verifies() -> None:
    assert verify_check_mac_value(REAL_NOTIFICATION, STAGE_KEY, STAGE_IV)


def test_sort_is_case_insensitive_like_strcasecmp() -> None:
    source = mac_source(REAL_NOTIFICATION, STAGE_KEY, STAGE_IV)
    # Ordinal order would put "ATMAccBank" before "amount"; strcasecmp puts "amount" first.
    assert source.index("&amount=") < source.index("&ATMAccBank=")
    assert source.index("&auth_code=") < source.index("&card4no=") < source.index("&CustomField1=")


def test_existing_check_mac_value_is_ignored_when_computing() -> None:
    with_field = {**AIO_EXAMPLE, "CheckMacValue": "whatever"}
    assert check_mac_value(with_field, STAGE_KEY, STAGE_IV) == AIO_CHECK_MAC


@pytest.mark.parametrize(
    ("field", "value"),
    [("TradeAmt", "80801"), ("RtnCode", "0"), ("MerchantTradeNo", "2025101423404153")],
)
def test_tampered_notification_fails(field: str, value: str) -> None:
    assert not verify_check_mac_value({**REAL_NOTIFICATION, field: value}, STAGE_KEY, STAGE_IV)


def test_added_field_fails() -> None:
    assert not verify_check_mac_value({**REAL_NOTIFICATION, "x": ""}, STAGE_KEY, STAGE_IV)


def test_wrong_key_fails() -> None:
    assert not verify_check_mac_value(REAL_NOTIFICATION, STAGE_KEY, "EkRm7iFT261dpevt")


def test_missing_or_odd_check_mac_value_fails_without_raising() -> None:
    params = {k: v for k, v in REAL_NOTIFICATION.items() if k != "CheckMacValue"}
    assert not verify_check_mac_value(params, STAGE_KEY, STAGE_IV)
    assert not verify_check_mac_value({**params, "CheckMacValue": ""}, STAGE_KEY, STAGE_IV)
    assert not verify_check_mac_value(
        {**params, "CheckMacValue": "\uff25" * 64}, STAGE_KEY, STAGE_IV
    )


def test_lower_case_hex_is_accepted() -> None:
    lowered = {**REAL_NOTIFICATION, "CheckMacValue": REAL_NOTIFICATION["CheckMacValue"].lower()}
    assert verify_check_mac_value(lowered, STAGE_KEY, STAGE_IV)


# Source: ECPay's "附錄 URLEncode 轉換表", column ".NET 編碼(ecpay)", as reproduced at
# http://blog.webgolds.com/view/443 ("[PHP, .NET] 歐付寶(綠界)-金流串接程式 常見錯誤原因").
URLENCODE_TABLE = [
    ("-", "-"),
    ("_", "_"),
    (".", "."),
    ("!", "!"),
    ("~", "%7e"),
    ("*", "*"),
    ("(", "("),
    (")", ")"),
    (" ", "+"),
    ("@", "%40"),
    ("#", "%23"),
    ("$", "%24"),
    ("%", "%25"),
    ("^", "%5e"),
    ("&", "%26"),
    ("=", "%3d"),
    ("+", "%2b"),
    (";", "%3b"),
    ("?", "%3f"),
    ("/", "%2f"),
    ("\\", "%5c"),
    (">", "%3e"),
    ("<", "%3c"),
    ("`", "%60"),
    ("[", "%5b"),
    ("]", "%5d"),
    ("{", "%7b"),
    ("}", "%7d"),
    (":", "%3a"),
    ("'", "%27"),
    ('"', "%22"),
    (",", "%2c"),
    ("|", "%7c"),
]


@pytest.mark.parametrize(("char", "encoded"), URLENCODE_TABLE)
def test_urlencode_matches_ecpay_table(char: str, encoded: str) -> None:
    assert ecpay_urlencode(char) == encoded


def test_unknown_method_is_refused() -> None:
    with pytest.raises(ValueError, match="unsupported"):
        check_mac_value(AIO_EXAMPLE, STAGE_KEY, STAGE_IV, "sha1")  # type: ignore[arg-type]
