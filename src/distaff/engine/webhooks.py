"""Run webhooks: the URL is checked against an SSRF policy when the run is created and again
when it is sent (a name may resolve elsewhere by then); delivery retries with backoff."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from typing import Any
from urllib.parse import urlsplit

import httpx

from distaff.errors import InvalidInput
from distaff.ids import now_iso
from distaff.serde import dumps
from distaff.settings import WebhookSettings

log = logging.getLogger("distaff.webhooks")
_RETRY_STATUSES = {408, 425, 429}


class Webhooks:
    def __init__(self, policy: WebhookSettings) -> None:
        self._policy = policy
        self._client: httpx.AsyncClient | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def check(self, url: str) -> None:
        """Raise `InvalidInput` unless the policy lets a webhook go to `url`."""
        policy = self._policy
        if len(url) > policy.max_url_length:
            raise InvalidInput(f"Webhook URL longer than {policy.max_url_length} characters")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidInput("Webhook must be an absolute http(s) URL")
        if policy.require_https and parts.scheme != "https":
            raise InvalidInput("Webhook must use https")
        host = parts.hostname.lower()
        if policy.allowed_domains and not any(
            _domain_matches(host, d) for d in policy.allowed_domains
        ):
            raise InvalidInput(f"Webhook host {host} is not an allowed domain")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            raise InvalidInput("Webhook URL has an invalid port") from None
        if policy.allowed_ports and port not in policy.allowed_ports:
            raise InvalidInput(f"Webhook port {port} is not allowed")
        for address in await _addresses(host, port):
            if address.is_loopback and policy.disable_loopback:
                raise InvalidInput("Webhook host blocked: loopback IP range")
            if not address.is_loopback and policy.disable_private_ips and not address.is_global:
                raise InvalidInput("Webhook host blocked: private IP range")

    def send(self, url: str, payload: dict[str, Any]) -> None:
        """Deliver in the background; the run's outcome does not wait for its webhook."""
        task = asyncio.create_task(self._deliver(url, payload), name="distaff-webhook")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, url: str, payload: dict[str, Any]) -> None:
        policy = self._policy
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(policy.timeout_seconds, connect=5.0)
            )
        delay = policy.retry_seconds
        for attempt in range(1, policy.attempts + 1):
            try:
                await self.check(url)
            except InvalidInput as exc:
                log.warning("webhook to %s not sent: %s", url, exc.message)
                return
            body = dumps({**payload, "webhook_sent_at": now_iso()})
            headers = {**policy.headers, "Content-Type": "application/json"}
            try:
                response = await self._client.post(url, content=body, headers=headers)
            except httpx.HTTPError as exc:
                failure = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code < 300:
                    return
                if response.status_code < 500 and response.status_code not in _RETRY_STATUSES:
                    log.warning("webhook to %s refused with %d", url, response.status_code)
                    return
                failure = f"HTTP {response.status_code}"
            if attempt < policy.attempts:
                log.info("webhook to %s failed (%s); retrying in %.1fs", url, failure, delay)
                await asyncio.sleep(delay)
                delay *= 2
            else:
                log.warning("webhook to %s failed after %d attempts: %s", url, attempt, failure)

    async def aclose(self) -> None:
        """Give pending deliveries a moment, then stop."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=5)
        for task in list(self._tasks):
            task.cancel()
        if self._client is not None:
            await self._client.aclose()


def _domain_matches(host: str, pattern: str) -> bool:
    pattern = pattern.lower()
    if pattern.startswith("*."):
        return host.endswith(pattern[1:])
    return host == pattern


async def _addresses(host: str, port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        raise InvalidInput(f"Webhook host {host} cannot be resolved") from None
    return [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
