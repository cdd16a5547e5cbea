"""The test HTTP endpoint (tests/sns/http_endpoint.py) against a real httpx client on trio."""

from __future__ import annotations

import httpx
import pytest
import trio
from http_endpoint import Endpoint, serve_endpoint

pytestmark = pytest.mark.real_clock


async def test_post_records_method_path_headers_and_body():
    async with serve_endpoint("/hook") as endpoint, httpx.AsyncClient() as client:
        assert endpoint.url.startswith("http://127.0.0.1:")
        assert endpoint.url.endswith("/hook")
        response = await client.post(
            endpoint.url + "?x=1",
            content=b'{"Type": "Notification", "Message": "hi"}',
            headers={
                "Content-Type": "text/plain; charset=UTF-8",
                "x-amz-sns-message-type": "Notification",
            },
        )
        assert response.status_code == 200
        [request] = endpoint.requests
        assert request.method == "POST"
        assert request.path == "/hook?x=1"
        assert request.headers["content-type"] == "text/plain; charset=UTF-8"
        assert request.headers["x-amz-sns-message-type"] == "Notification"
        assert request.headers["content-length"] == str(len(request.body))
        assert request.body == b'{"Type": "Notification", "Message": "hi"}'
        assert request.json() == {"Type": "Notification", "Message": "hi"}


async def test_scripted_statuses_come_back_in_order_then_200():
    async with serve_endpoint() as endpoint, httpx.AsyncClient() as client:
        endpoint.respond(500, 503)
        endpoint.respond(429)
        statuses = [(await client.post(endpoint.url, content=b"x")).status_code for _ in range(5)]
        assert statuses == [500, 503, 429, 200, 200]
        assert len(endpoint.requests) == 5


def test_respond_rejects_statuses_that_are_not_final():
    endpoint = Endpoint("http://127.0.0.1:1/hook")
    with pytest.raises(ValueError):
        endpoint.respond(100)
    with pytest.raises(ValueError):
        endpoint.respond(200, 600)


async def test_requests_share_one_keep_alive_connection():
    async with serve_endpoint() as endpoint, httpx.AsyncClient() as client:
        endpoint.respond(500)  # an error answer keeps the connection open too
        for i in range(4):
            await client.post(endpoint.url, content=str(i).encode())
        assert [r.body for r in endpoint.requests] == [b"0", b"1", b"2", b"3"]
        assert endpoint.connections == 1
        assert {r.connection for r in endpoint.requests} == {0}


async def test_connection_close_is_honoured():
    async with serve_endpoint() as endpoint, httpx.AsyncClient() as client:
        for _ in range(2):
            await client.post(endpoint.url, content=b"x", headers={"Connection": "close"})
        assert endpoint.connections == 2


async def test_delay_holds_the_answer():
    async with serve_endpoint() as endpoint, httpx.AsyncClient() as client:
        endpoint.delay = 0.1
        start = trio.current_time()
        response = await client.post(endpoint.url, content=b"slow")
        assert response.status_code == 200
        assert trio.current_time() - start >= 0.1


async def test_a_client_timeout_does_not_break_the_endpoint():
    async with serve_endpoint() as endpoint:
        endpoint.delay = 0.1
        async with httpx.AsyncClient(timeout=0.02) as client:
            with pytest.raises(httpx.TimeoutException):
                await client.post(endpoint.url, content=b"too slow")
        endpoint.delay = 0
        async with httpx.AsyncClient() as client:
            assert (await client.post(endpoint.url, content=b"ok")).status_code == 200
        assert [r.body for r in endpoint.requests] == [b"too slow", b"ok"]


async def test_wait_for_returns_once_enough_requests_arrived():
    async with serve_endpoint() as endpoint, httpx.AsyncClient() as client:
        await endpoint.wait_for(0)

        async def post_later():
            await trio.sleep(0.02)
            for body in (b"a", b"b"):
                await client.post(endpoint.url, content=body)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(post_later)
            with trio.fail_after(2):
                await endpoint.wait_for(2)
            assert [r.body for r in endpoint.requests] == [b"a", b"b"]
