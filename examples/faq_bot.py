"""A small FAQ bot for chatdesk: answers visitors by keyword, hands over to a person.

It uses nothing but chatdesk's HTTP API and Python's standard library:

- an API token with the ``bot`` role, made by an admin for one site
  (``POST /api/v1/api-tokens {"name": "FAQ bot", "role": "bot", "site_id": …}``;
  the token's name is the name visitors see);
- ``GET /api/v1/events`` as a long-poll, from "now" on, for visitors' messages;
- ``POST /api/v1/conversations/{id}/messages`` to answer (its ``client_msg_id`` is
  made from the visitor's message, so a restarted bot never answers twice);
- ``PATCH /api/v1/conversations/{id} {"assignee_id": null, "status": "open"}`` to
  hand the conversation to the team when the visitor asks for a person or the bot
  has no answer (chatdesk then emits ``conversation.handoff``). After that, or
  once an operator is assigned or has replied, the bot stays quiet there.

Run it::

    CHATDESK_URL=https://chat.example.com CHATDESK_BOT_TOKEN=cdk_… python examples/faq_bot.py
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
import urllib.error
import urllib.request
from typing import Any

FAQ = {
    ("hours", "open", "opening"): "We're open Monday to Friday, 9:00 to 17:30 (CET).",
    ("ship", "shipping", "delivery", "deliver"): "We ship across Europe in 2-4 working days.",
    ("return", "refund"): "You can return anything within 30 days for a full refund.",
    ("price", "cost", "how much"): "Prices are on each product page, VAT included.",
}
PERSON = re.compile(r"\b(human|person|agent|someone|operator)\b", re.IGNORECASE)
GREETING = re.compile(r"^\s*(hi|hello|hey)\b[\s!.]*$", re.IGNORECASE)


def answer_for(text: str) -> str | None:
    """The FAQ answer for ``text``, or None when the bot has none."""
    lowered = text.lower()
    for keywords, answer in FAQ.items():
        if any(re.search(rf"\b{re.escape(k)}\b", lowered) for k in keywords):
            return answer
    return None


class Chatdesk:
    """The few API calls the bot makes, with its token."""

    def __init__(self, url: str, token: str) -> None:
        if not url.startswith(("http://", "https://")):
            raise SystemExit("--url must be chatdesk's http:// or https:// address")
        self.url = url.rstrip("/")
        self.token = token

    def call(self, method: str, path: str, body: Any = None, timeout: float = 30) -> Any:
        data = None if body is None else json.dumps(body).encode()
        # The URL is the operator's own --url (http or https), checked in __init__.
        request = urllib.request.Request(self.url + path, data=data, method=method)  # noqa: S310
        request.add_header("Authorization", f"Bearer {self.token}")
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            raw = response.read()
        return json.loads(raw) if raw else None


class FaqBot:
    def __init__(self, api: Chatdesk) -> None:
        self.api = api
        self.quiet: set[str] = set()  # conversations the team has taken over

    def handle(self, event: dict[str, Any]) -> None:
        kind = event["type"]
        conversation_id = event.get("conversation_id")
        if kind in ("conversation.handoff", "conversation.updated"):
            conversation = event["data"].get("conversation") or {}
            if kind == "conversation.handoff" or conversation.get("assignee_id"):
                self.quiet.add(conversation_id)
            return
        if kind != "message.created":
            return
        message = event["data"]["message"]
        if message["private"] or conversation_id in self.quiet:
            return
        if message["author"]["type"] == "operator":  # a person answered: stay out of it
            self.quiet.add(conversation_id)
            return
        if message["author"]["type"] != "visitor":
            return
        self.reply_to(conversation_id, message)

    def reply_to(self, conversation_id: str, message: dict[str, Any]) -> None:
        text = message["body"]
        answer = None if PERSON.search(text) else answer_for(text)
        if answer is None and GREETING.match(text):
            answer = "Hello! Ask me about opening hours, shipping, returns or prices."
        if answer is not None:
            self.say(conversation_id, message, answer)
            return
        self.say(conversation_id, message, "Let me get a person for you; they'll be right here.")
        self.api.call(
            "PATCH",
            f"/api/v1/conversations/{conversation_id}",
            {"assignee_id": None, "status": "open"},
        )
        self.quiet.add(conversation_id)

    def say(self, conversation_id: str, message: dict[str, Any], body: str) -> None:
        self.api.call(
            "POST",
            f"/api/v1/conversations/{conversation_id}/messages",
            {"body": body, "client_msg_id": f"faq-{message['id']}"},
        )

    def run(self, stop_after: float | None = None) -> None:
        deadline = None if stop_after is None else time.monotonic() + stop_after
        cursor = self.api.call("GET", "/api/v1/events?wait=0")["cursor"]
        print("faq bot: listening", flush=True)
        while deadline is None or time.monotonic() < deadline:
            try:
                page = self.api.call("GET", f"/api/v1/events?after={cursor}&wait=20", timeout=40)
            except urllib.error.HTTPError as error:
                if error.code == 410:  # cursor expired: go on from now
                    cursor = self.api.call("GET", "/api/v1/events?wait=0")["cursor"]
                    continue
                raise
            except (urllib.error.URLError, TimeoutError) as error:
                print(f"faq bot: {error}; retrying", file=sys.stderr, flush=True)
                time.sleep(2)
                continue
            for event in page["events"]:
                self.handle(event)
            cursor = page["cursor"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default=os.environ.get("CHATDESK_URL", "http://127.0.0.1:8000"))
    parser.add_argument("--token", default=os.environ.get("CHATDESK_BOT_TOKEN"))
    parser.add_argument("--stop-after", type=float, default=None, help="seconds, then exit")
    args = parser.parse_args()
    if not args.token:
        parser.error("give the bot's API token with --token or CHATDESK_BOT_TOKEN")
    FaqBot(Chatdesk(args.url, args.token)).run(args.stop_after)


if __name__ == "__main__":
    main()
