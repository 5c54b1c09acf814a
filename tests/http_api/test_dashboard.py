"""The operator dashboard in a real browser (Debian's chromium): sign-in, live updates pushed by
server-sent events, charts drawn, a screenshot that is not blank; and the session's protections."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from http_api.dashboard.operators import create_operator
from tests.engine.harness import Receiver, customer
from tests.http_api.browser import png_colours
from tests.http_api.conftest import Api, sms

PASSWORD = "correct horse battery"
SCREENSHOT = Path("/tmp/smsengine-dashboard.png")  # kept for a person to look at after the run


def sign_in(driver: webdriver.Chrome, base_url: str) -> int:
    """What an operator does first: open the dashboard, be sent to sign in, get it wrong, get it right."""
    wait = WebDriverWait(driver, 30)
    driver.get(f"{base_url}/dashboard")
    assert driver.current_url.endswith("/dashboard/login")
    driver.find_element(By.NAME, "name").send_keys("alice")
    driver.find_element(By.NAME, "password").send_keys("wrong password")
    driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    # the click only starts the POST: wait for the answer's page, not the form still on screen
    wait.until(lambda d: "Wrong name or password" in d.page_source)
    driver.find_element(By.NAME, "name").send_keys("alice")
    driver.find_element(By.NAME, "password").send_keys(PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait.until(lambda d: d.current_url.endswith("/dashboard"))
    assert driver.execute_script("return document.cookie") == ""  # HttpOnly: no script can read it
    wait.until(lambda d: d.find_element(By.ID, "status").text == "live")
    # the process' count so far (other engines of the test run included): this test's sends come on top
    return int(driver.find_element(By.ID, "accepted-total").text)


def watch(driver: webdriver.Chrome, sent: int) -> bytes:
    """The figures the operator watches, pushed live; then a screenshot of it all."""
    wait = WebDriverWait(driver, 30)
    text = lambda element_id: driver.find_element(By.ID, element_id).text  # noqa: E731
    wait.until(lambda d: "1/1 bound" in text("carrier-binds") and "sim" in text("carrier-binds"))
    wait.until(lambda d: "acme" in text("customer-binds") and "TRX" in text("customer-binds"))
    wait.until(lambda d: text("accepted-total") == str(sent))
    wait.until(lambda d: text("latency") != "–")  # receipts came back: their latency is charted
    assert "acme" in text("balances") and "globex" in text("balances")
    assert "INVALID_PHONE_NUMBER" in text("refusals")  # the code the customer was answered
    canvases = driver.find_elements(By.CSS_SELECTOR, "#chart-throughput canvas")
    assert canvases and canvases[0].size["width"] > 100
    return bytes(driver.get_screenshot_as_png())


async def test_an_operator_signs_in_and_watches_the_engine_live(api: Api, browser: webdriver.Chrome) -> None:
    await create_operator(api.stack.pool, "alice", PASSWORD)
    before = await asyncio.to_thread(sign_in, browser, api.base_url)
    async with customer(api.stack, Receiver()):  # a customer bound over SMPP, shown among the binds
        refused = await api.client.post("/v1/sms/send", json=sms(to="+999"), headers=api.headers())
        assert refused.status_code == 400
        sent = 0
        for _ in range(15):  # traffic spread over a few pushes, so the throughput chart has a shape
            batch = [api.client.post("/v1/sms/send", json=sms(), headers=api.headers()) for _ in range(4)]
            assert all(r.status_code == 202 for r in await asyncio.gather(*batch))
            sent += len(batch)
            await asyncio.sleep(0.2)
        png = await asyncio.to_thread(watch, browser, before + sent)
    await asyncio.to_thread(SCREENSHOT.write_bytes, png)
    assert png_colours(png) > 20, "the screenshot is blank"


async def test_the_dashboard_refuses_without_a_valid_session(api: Api) -> None:
    await create_operator(api.stack.pool, "bob", PASSWORD)
    async with httpx.AsyncClient(base_url=api.base_url) as client:
        assert (await client.get("/dashboard")).status_code == 303
        for path in ("/dashboard/events", "/dashboard/snapshot"):
            assert (await client.get(path)).status_code == 401
        client.cookies.set("smsengine_operator", "eyJpZCI6MSwibmFtZSI6ImJvYiJ9.forged.signature")
        assert (await client.get("/dashboard/snapshot")).status_code == 401
        client.cookies.clear()
        r = await client.post("/dashboard/login", data={"name": "bob", "password": PASSWORD})
        assert r.status_code == 303
        cookie = r.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie and "path=/dashboard" in cookie
        snapshot = (await client.get("/dashboard/snapshot")).json()
        assert snapshot["binds"]["carriers"][0]["carrier"] == "sim" and "balances" in snapshot
        await api.stack.pool.execute("UPDATE operators SET enabled = false WHERE name = 'bob'")
        assert (await client.get("/dashboard/snapshot")).status_code == 401  # disabled: out at once
        # the event stream delivers snapshots as server-sent events
        await api.stack.pool.execute("UPDATE operators SET enabled = true WHERE name = 'bob'")
        async with client.stream("GET", "/dashboard/events") as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            async for line in stream.aiter_lines():
                if line.startswith("event:"):
                    assert line == "event: snapshot"
                    break


async def test_the_api_docs_render_in_the_browser(api: Api, browser: webdriver.Chrome) -> None:
    def read_docs() -> str:
        browser.get(f"{api.base_url}/docs")
        WebDriverWait(browser, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, ".opblock"))
        return str(browser.find_element(By.TAG_NAME, "body").text)

    text = await asyncio.to_thread(read_docs)
    assert "/v1/sms/send" in text and "/v1/settings/webhooks" in text
