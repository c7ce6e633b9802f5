"""The text a person wrote in a reply by email, without the history it quotes.

``mail-parser-reply`` (ADR 0013) splits the body at the headers mail clients put
above quoted history ("On … wrote:", "-----Original Message-----", "From: …"
blocks, in many languages) and tells signatures ("-- ", "Sent from my iPhone",
"Best regards," …) from the reply. What it leaves is cleaned by chatdesk's own
rules: trailing ``>``-quoted lines go, an HTML-only email is read as text (its
``<blockquote>`` history dropped), NUL characters go, and the result is bounded
by the longest message a visitor may send.
"""

from __future__ import annotations

import re
from email.message import EmailMessage
from html.parser import HTMLParser

from mailparser_reply import EmailReplyParser

__all__ = ["MAX_CHARS", "reply_text"]

MAX_CHARS = 10000  # a visitor message's limit (web/schemas.py)
LANGUAGES = ["en", "de", "fr", "es", "it", "nl", "pl", "sv", "ja", "cz", "da"]
_QUOTED_TAIL = re.compile(r"(\n\s*>[^\n]*)+\s*\Z")
_BLANKS = re.compile(r"\n{3,}")


class _HtmlText(HTMLParser):
    """Text of an HTML body: blocks become lines, quoted history and scripts are left out."""

    SKIP = {"blockquote", "script", "style", "head", "title"}
    BLOCKS = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "table"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        classes = dict(attrs).get("class") or ""
        if tag in self.SKIP or "gmail_quote" in classes or "moz-cite-prefix" in classes:
            self.skipping += 1
        elif tag in self.BLOCKS and not self.skipping:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if self.skipping and tag in self.SKIP | {"div"}:
            self.skipping -= 1
        elif tag in self.BLOCKS and not self.skipping:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(data)


def _html_to_text(html: str) -> str:
    parser = _HtmlText()
    parser.feed(html)
    parser.close()
    return "".join(parser.parts)


def _body_text(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    try:
        content = part.get_content()
    except (LookupError, ValueError):  # an unknown charset or a broken encoding
        payload = part.get_payload(decode=True)
        content = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
    if not isinstance(content, str):
        return ""
    return _html_to_text(content) if part.get_content_type() == "text/html" else content


def reply_text(message: EmailMessage) -> str:
    """What the sender wrote above the quoted history and their signature; "" if nothing."""
    text = _body_text(message).replace("\x00", "").replace("\r\n", "\n")
    replies = EmailReplyParser(languages=LANGUAGES).read(text).replies
    reply = replies[0].body if replies else text
    reply = _QUOTED_TAIL.sub("", "\n" + reply).strip()
    return _BLANKS.sub("\n\n", reply)[:MAX_CHARS].strip()
