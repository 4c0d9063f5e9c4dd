"""Search in Chinese, Thai and Latin scripts, ranking and paging through ranked results."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from commerce.catalog.search import bigrams, normalise
from commerce.context import AppContext
from tests.commerce.factories import make_product, make_user


async def search(api: httpx.AsyncClient, q: str, **params: Any) -> list[str]:
    response = await api.get("/api/v1/products", params={"q": q, **params})
    assert response.status_code == 200, response.text
    return [item["name"] for item in response.json()["items"]]


def test_normalise_folds_width_case_punctuation_and_keeps_thai_marks() -> None:
    fullwidth = "\uff22\uff4c\uff55\uff45\uff0dTooth"  # fullwidth "Blue-" + ASCII
    assert normalise(f"{fullwidth}  EARBUDS!") == "bluetoothearbuds"
    assert normalise("iPhone 15 (128GB)") == "iphone15128gb"
    # Thai vowels and tone marks (category Mn) stay; only the space goes.
    assert normalise("หูฟัง บลูทูธ") == "หูฟังบลูทูธ"
    assert normalise("Straße") == "strasse"
    assert normalise("藍牙\u200b耳機") == "藍牙耳機"  # zero-width space dropped
    assert bigrams("ฟัง") == {"ฟั", "ัง"}


async def test_three_scripts_and_mixed_names(api: httpx.AsyncClient, ctx: AppContext) -> None:
    seller, _ = await make_user(ctx, "seller")
    for name in ["藍牙耳機", "หูฟังบลูทูธ", "Bluetooth Earbuds", "Sony 藍牙 หูฟัง WH-1000XM5"]:
        await make_product(ctx, seller, name=name)
    await make_product(ctx, seller, name="Phone case", description="fits every 藍牙 headset")

    assert await search(api, "耳機") == ["藍牙耳機"]
    assert await search(api, "ฟัง") == ["หูฟังบลูทูธ", "Sony 藍牙 หูฟัง WH-1000XM5"]
    assert await search(api, "blue") == ["Bluetooth Earbuds"]
    assert await search(api, "BLUETOOTH earbuds") == ["Bluetooth Earbuds"]
    assert await search(api, "wh1000") == ["Sony 藍牙 หูฟัง WH-1000XM5"]
    assert await search(api, "牙 หู") == ["Sony 藍牙 หูฟัง WH-1000XM5"]
    # name hits first (earlier position first), then the description-only hit
    assert await search(api, "藍牙") == ["藍牙耳機", "Sony 藍牙 หูฟัง WH-1000XM5", "Phone case"]
    assert await search(api, "耳機藍牙") == []


async def test_bigram_false_positives_are_dropped(api: httpx.AsyncClient, ctx: AppContext) -> None:
    seller, _ = await make_user(ctx, "seller")
    await make_product(ctx, seller, name="abxbc")  # holds the bigrams ab, bc but not "abc"
    await make_product(ctx, seller, name="ab", description="bc")  # grams split across fields
    await make_product(ctx, seller, name="zabcz")
    assert await search(api, "abc") == ["zabcz"]


async def test_ranking_order(api: httpx.AsyncClient, ctx: AppContext) -> None:
    seller, _ = await make_user(ctx, "seller")
    names = {}
    for name, description in [
        ("Case for earbuds", ""),  # name match at position 7
        ("Earbuds", ""),  # position 0, shortest
        ("Earbuds Pro Max", ""),  # position 0, longer
        ("Charger", "works with earbuds"),  # description only
        ("Cable", "earbuds"),  # description only, earlier position
        ("Earbuds", ""),  # same rank key as the first "Earbuds": newer id first
    ]:
        product = await make_product(ctx, seller, name=name, description=description)
        names[product.id] = name
    response = (await api.get("/api/v1/products", params={"q": "earbud"})).json()
    got = [(item["name"], item["id"]) for item in response["items"]]
    assert [name for name, _ in got] == [
        "Earbuds",  # position 0, shortest name ...
        "Earbuds",  # ... same key: the newer product first
        "Earbuds Pro Max",
        "Case for earbuds",
        "Cable",  # description-only hits last, earlier match first
        "Charger",
    ]
    earbuds_ids = sorted((pid for pid, n in names.items() if n == "Earbuds"), reverse=True)
    assert [pid for _, pid in got[:2]] == earbuds_ids


async def test_paging_through_ranked_results(api: httpx.AsyncClient, ctx: AppContext) -> None:
    seller, _ = await make_user(ctx, "seller")
    other, _ = await make_user(ctx, "seller")
    for i in range(7):
        await make_product(ctx, seller, name=f"{'x' * i}耳機", description="")
        await make_product(ctx, seller, name=f"item {i}", description="耳機 " * (i + 1))
    await make_product(ctx, other, name="耳機 of another seller")
    everything = await search(api, "耳機", limit=100, seller_id=seller.id)
    assert len(everything) == 14

    paged: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"q": "耳機", "limit": 3, "seller_id": seller.id}
        if cursor:
            params["cursor"] = cursor
        page = (await api.get("/api/v1/products", params=params)).json()
        paged.extend(item["name"] for item in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert paged == everything
    assert everything[:7] == [f"{'x' * i}耳機" for i in range(7)]  # by position
    # a cursor from the plain listing does not fit a search
    listing = (await api.get("/api/v1/products", params={"limit": 1})).json()
    params = {"q": "耳機", "cursor": listing["next_cursor"]}
    mixed = await api.get("/api/v1/products", params=params)
    assert mixed.json()["error"]["code"] == "invalid_cursor"


async def test_index_follows_updates_and_deletes(api: httpx.AsyncClient, ctx: AppContext) -> None:
    seller, headers = await make_user(ctx, "seller")
    product = await make_product(ctx, seller, name="หูฟังไร้สาย")
    url = f"/api/v1/products/{product.id}"
    await api.patch(url, json={"name": "ลำโพง", "description": "speaker"}, headers=headers)
    assert await search(api, "หูฟัง") == []
    assert await search(api, "ลำโพ") == ["ลำโพง"]
    assert await search(api, "speak") == ["ลำโพง"]
    await api.patch(url, json={"stock": 1}, headers=headers)  # no text change: index kept
    assert await search(api, "ลำโพ") == ["ลำโพง"]
    await api.delete(url, headers=headers)
    assert await search(api, "ลำโพ") == []


async def test_thai_words_of_one_consonant_and_a_vowel_mark(
    api: httpx.AsyncClient, ctx: AppContext
) -> None:
    """`หู` (ear) and `ดู` (look) are whole words of two code points (a consonant and a vowel
    mark): they are searched, not refused as too short."""
    seller, _ = await make_user(ctx, "seller")
    await make_product(ctx, seller, name="หูฟังบลูทูธ")
    await make_product(ctx, seller, name="ทีวี", description="ดูหนังได้ทุกที่")
    assert await search(api, "หู") == ["หูฟังบลูทูธ"]
    assert await search(api, "ดู") == ["ทีวี"]


async def test_substrings_are_confirmed_by_code_point(
    api: httpx.AsyncClient, ctx: AppContext
) -> None:
    """`café fe` holds every bigram of `cafe` (`ca`, `af`, `fe`) but not the substring: the
    confirmation compares code points, so an accent is not folded away in either direction."""
    seller, _ = await make_user(ctx, "seller")
    await make_product(ctx, seller, name="café fe")
    await make_product(ctx, seller, name="cafe racer")
    assert await search(api, "cafe") == ["cafe racer"]
    assert await search(api, "café") == ["café fe"]


@pytest.mark.parametrize("q", ["a", " ! ", "耳", "ฟ", "-- a --"])
async def test_short_queries_are_refused(api: httpx.AsyncClient, q: str) -> None:
    response = await api.get("/api/v1/products", params={"q": q})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "query_too_short"


async def test_empty_query_lists_everything(api: httpx.AsyncClient, ctx: AppContext) -> None:
    seller, _ = await make_user(ctx, "seller")
    await make_product(ctx, seller, name="a")
    assert await search(api, "") == ["a"]


async def test_overlong_query_is_refused(api: httpx.AsyncClient) -> None:
    response = await api.get("/api/v1/products", params={"q": "x" * 101})
    assert response.status_code == 422


async def test_search_is_rate_limited_per_address(
    api: httpx.AsyncClient, ctx: AppContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Searches count against `RATE_LIMIT_SEARCH_PER_IP` (429 with Retry-After); the plain
    newest-first listing, which reads one index page, does not."""
    monkeypatch.setattr(ctx, "settings", ctx.settings.updated(
        rate_limits={"search_per_ip": "3/minute"}))
    for _ in range(3):
        assert (await api.get("/api/v1/products", params={"q": "耳機"})).status_code == 200
    limited = await api.get("/api/v1/products", params={"q": "藍牙"})
    assert limited.status_code == 429
    assert limited.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    for _ in range(5):
        assert (await api.get("/api/v1/products")).status_code == 200
