"""The webhook sender: one signed POST per delivery, and what its answer means.

Each attempt POSTs the job's body (made from its event when it was claimed,
``jobs.outbox.webhook_body``) with the Standard Webhooks headers
(``jobs/signing.py``): ``webhook-id`` is the job id on every attempt, so a receiver
drops duplicates by it. Answers:

- 2xx: delivered;
- 410 Gone: failed, and the webhook is paused (the Standard Webhooks convention; an
  admin resumes it once the receiver is back);
- 408, 429, 5xx, a timeout, a connection that fails: retried with backoff;
- any other answer (4xx, and 3xx: redirects are not followed): retried until the
  attempt numbered :data:`CLIENT_ERROR_ATTEMPTS`, then failed; the receiver is
  answering but refuses, which a few more tries rarely change;
- an address deliveries may not reach (``jobs/transport.py``): failed at once.
"""

from __future__ import annotations

from chatdesk.clock import Clock
from chatdesk.jobs.outbox import GiveUp, Job, RetryLater, Sent, TargetGone
from chatdesk.jobs.signing import signature
from chatdesk.jobs.transport import AddressRefused, ProtocolError, WebhookClient

__all__ = ["CLIENT_ERROR_ATTEMPTS", "WebhookSender", "classify"]

CLIENT_ERROR_ATTEMPTS = 3


def classify(status: int, attempts: int) -> Sent:
    """The answer ``status`` to attempt number ``attempts``: :class:`Sent`, or raises."""
    if 200 <= status < 300:
        return Sent(status)
    if status == 410:
        raise TargetGone("the receiver answered 410 Gone; the webhook was paused", status)
    if status in (408, 429) or status >= 500:
        raise RetryLater(f"the receiver answered {status}", status)
    reason = f"the receiver answered {status}"
    if 300 <= status < 400:
        reason += " (redirects are not followed)"
    if attempts >= CLIENT_ERROR_ATTEMPTS:
        raise GiveUp(reason, status)
    raise RetryLater(reason, status)


class WebhookSender:
    """Sends ``webhook`` jobs (registered with the worker)."""

    kind = "webhook"

    def __init__(self, client: WebhookClient, clock: Clock) -> None:
        self.client = client
        self.clock = clock

    async def aclose(self) -> None:
        """Close the keep-alive connections (the worker calls it when it stops)."""
        await self.client.aclose()

    async def send(self, job: Job) -> Sent:
        target = job.webhook
        if target is None:
            raise GiveUp("the job names no webhook")
        if job.body is None:
            raise GiveUp("its event was purged from the log before it could be delivered")
        body = job.body.encode()
        timestamp = int(self.clock().timestamp())
        headers = [
            (b"Content-Type", b"application/json"),
            (b"webhook-id", job.id.encode()),
            (b"webhook-timestamp", str(timestamp).encode()),
            (b"webhook-signature", signature(target.secret, job.id, timestamp, body).encode()),
        ]
        try:
            status = await self.client.post(target.url, headers, body)
        except AddressRefused as exc:
            raise GiveUp(f"refused: {exc}") from exc
        except ValueError as exc:
            raise GiveUp(f"cannot send to this URL: {exc}") from exc
        except TimeoutError as exc:
            raise RetryLater(f"no answer within {self.client.timeout:g} s") from exc
        except (ProtocolError, OSError) as exc:
            raise RetryLater(f"connection failed: {exc or type(exc).__name__}") from exc
        return classify(status, job.attempts)
