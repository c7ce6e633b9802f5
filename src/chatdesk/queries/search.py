"""Full-text search over messages and visitors: one interface, two engines (ADR 0025).

SQLite answers from FTS5 tables (``messages_fts``, ``visitors_fts``), PostgreSQL from
``search_vector`` columns with GIN indexes; migration 0016 builds both and the database
keeps them in step with every write (triggers), so nothing here runs on the message
path. A search is a list of words (what :func:`search_words` takes out of the typed
text): every word must match, as a word (stemmed where the engine can), in one message's
body or in the visitor's name and email. The caller passes its conditions on
``conversations`` (the operator's sites, the filters): they are applied inside the
ranking query, so nothing the caller may not see is ever ranked or counted.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Connection,
    Float,
    Select,
    bindparam,
    cast,
    column,
    func,
    literal,
    literal_column,
    null,
    select,
    table,
    text,
    union_all,
)
from sqlalchemy.dialects.postgresql import TSQUERY, TSVECTOR

from chatdesk.db.tables import conversations, messages, sites, visitors
from chatdesk.errors import ValidationFailed

__all__ = [
    "Matcher",
    "SearchHit",
    "search_hits",
    "search_matcher",
    "search_snippets",
    "search_words",
]

# A word: letters, digits and marks. Whatever else is typed (quotes, *, -, parentheses,
# NEAR, AND, ...) separates words and is never handed to an engine's query syntax.
_WORD = re.compile(r"[^\W_]+")
MAX_WORDS = 12
MAX_WORD_LENGTH = 64
# Around the matched words in the engines' snippets: never stored in any text (message
# bodies refuse NUL, not these, so a body holding one only moves a highlight).
_OPEN, _CLOSE = "\x01", "\x02"
_SNIPPET_WORDS = 14
# How many matches (messages, and visitors) a search ranks at most: the most recent ones.
CANDIDATES = 1000


class Matcher(Protocol):
    """One search's words as an engine takes them (from :func:`search_matcher`)."""

    @property
    def message_order(self) -> ColumnElement[Any]: ...
    @property
    def visitor_order(self) -> ColumnElement[Any]: ...
    def prepare(self, conn: Connection) -> None: ...
    def message_hits(self) -> Select[Any]: ...
    def visitor_hits(self) -> Select[Any]: ...
    def snippets(self, conn: Connection, message_ids: Sequence[str]) -> dict[str, str]: ...


@dataclass(frozen=True)
class SearchHit:
    """A conversation that matched: its best message (None when only the visitor's name
    or email matched) and its place in the ranking."""

    conversation_id: str
    message_id: str | None


def search_words(q: str) -> list[str]:
    """The words to search for in ``q``; 422 when it has none or too many."""
    words = [word.casefold() for word in _WORD.findall(q)]
    if not words:
        raise ValidationFailed(
            "The search has no words to look for (letters or digits).", {"field": "q"}
        )
    if len(words) > MAX_WORDS or any(len(word) > MAX_WORD_LENGTH for word in words):
        raise ValidationFailed(
            f"A search takes at most {MAX_WORDS} words of at most {MAX_WORD_LENGTH} characters.",
            {"field": "q"},
        )
    return list(dict.fromkeys(words))


def search_matcher(conn: Connection, words: Sequence[str]) -> Matcher:
    """What one search asks of this connection's engine, prepared once for its hits and
    its snippets (PostgreSQL: one round trip for the query in every site's language)."""
    if conn.dialect.name == "postgresql":
        return _Postgres(conn, words)
    return _Sqlite(words)


def search_hits(
    conn: Connection,
    matcher: Matcher,
    where: Sequence[ColumnElement[bool]],
    *,
    include_private: bool,
    limit: int,
    offset: int = 0,
) -> list[SearchHit]:
    """Conversations matching the words under the ``where`` conditions on
    ``conversations``, best first: those whose visitor's name or email matched, then by
    the best-ranked message (bm25 / ts_rank); ``limit`` of them from ``offset``.
    Private notes (and timeline entries, never) count only with ``include_private``."""
    matcher.prepare(conn)
    message_where = [messages.c.kind.is_(None), *where]
    if not include_private:
        message_where.append(messages.c.private.is_(False))
    # Each side ranks at most CANDIDATES matches, the most recent (under the conditions):
    # all of them for a rare word; for a word in a third of the messages, ranking every
    # match would cost seconds, and the best of the latest thousand is what is wanted.
    newest_messages = (
        matcher.message_hits()
        .where(*message_where)
        .order_by(matcher.message_order.desc())
        .limit(CANDIDATES)
        .subquery("message_hits")
    )
    newest_visitors = (
        matcher.visitor_hits()
        .where(*where)
        .order_by(matcher.visitor_order.desc())
        .limit(CANDIDATES)
        .subquery("visitor_hits")
    )
    hits = union_all(select(newest_messages), select(newest_visitors)).subquery("hits")
    best = select(
        hits.c.conversation_id,
        hits.c.message_id,
        hits.c.score,
        func.min(hits.c.tier).over(partition_by=hits.c.conversation_id).label("tier"),
        func.row_number()
        .over(
            partition_by=hits.c.conversation_id,
            order_by=(hits.c.message_id.is_(None), hits.c.score, hits.c.message_id),
        )
        .label("place"),
    ).subquery("best")
    rows = conn.execute(
        select(best.c.conversation_id, best.c.message_id)
        .where(best.c.place == 1)
        .order_by(best.c.tier, best.c.score, best.c.conversation_id)
        .limit(limit)
        .offset(offset)
    ).all()
    return [SearchHit(row.conversation_id, row.message_id) for row in rows]


def search_snippets(
    conn: Connection, matcher: Matcher, message_ids: Sequence[str]
) -> dict[str, str]:
    """Each message's text around the matched words: HTML-escaped, with every match
    inside ``<mark>…</mark>`` (the only markup in it)."""
    if not message_ids:
        return {}
    return {
        message_id: _marked(raw) for message_id, raw in matcher.snippets(conn, message_ids).items()
    }


def _marked(raw: str) -> str:
    """The engine's snippet (matches between _OPEN and _CLOSE) as escaped text with <mark>."""
    out: list[str] = []
    inside = False
    for piece in re.split(f"([{_OPEN}{_CLOSE}])", raw):
        if piece == _OPEN and not inside:
            out.append("<mark>")
            inside = True
        elif piece == _CLOSE and inside:
            out.append("</mark>")
            inside = False
        elif piece not in (_OPEN, _CLOSE):
            out.append(html.escape(piece, quote=False))
    if inside:
        out.append("</mark>")
    return "".join(out)


_MESSAGES_FTS = table("messages_fts", column("rowid"))
_VISITORS_FTS = table("visitors_fts", column("rowid"))


class _Sqlite:
    """FTS5: ``"word" "word"`` (every word, each a quoted string: no query syntax)."""

    message_order = _MESSAGES_FTS.c.rowid
    visitor_order = _VISITORS_FTS.c.rowid

    def __init__(self, words: Sequence[str]) -> None:
        self.expression = " ".join(f'"{word}"' for word in words)

    def prepare(self, conn: Connection) -> None:
        """Nothing to set for a search on SQLite."""

    def _match(self, name: str) -> ColumnElement[bool]:
        return literal_column(name).op("MATCH", return_type=Boolean)(
            bindparam(None, self.expression)
        )

    def message_hits(self) -> Select[Any]:
        score = func.bm25(literal_column("messages_fts"), type_=Float)
        return (
            select(
                messages.c.conversation_id,
                messages.c.id.label("message_id"),
                score.label("score"),
                literal_column("1").label("tier"),
            )
            .select_from(
                _MESSAGES_FTS.join(
                    messages, literal_column("messages.rowid") == _MESSAGES_FTS.c.rowid
                ).join(conversations, conversations.c.id == messages.c.conversation_id)
            )
            .where(self._match("messages_fts"))
        )

    def visitor_hits(self) -> Select[Any]:
        score = func.bm25(literal_column("visitors_fts"), type_=Float)
        return (
            select(
                conversations.c.id.label("conversation_id"),
                null().label("message_id"),
                score.label("score"),
                literal_column("0").label("tier"),
            )
            .select_from(
                _VISITORS_FTS.join(
                    visitors, literal_column("visitors.rowid") == _VISITORS_FTS.c.rowid
                ).join(conversations, conversations.c.visitor_id == visitors.c.id)
            )
            .where(self._match("visitors_fts"))
        )

    def snippets(self, conn: Connection, message_ids: Sequence[str]) -> dict[str, str]:
        # One statement, one lookup per message: FTS5 seeks a rowid inside a MATCH, where
        # a join would walk every match of a common word.
        snippet = func.snippet(
            literal_column("messages_fts"), 0, _OPEN, _CLOSE, "…", _SNIPPET_WORDS
        )
        lookups = [
            select(literal(message_id).label("message_id"), snippet.label("snippet"))
            .select_from(_MESSAGES_FTS)
            .where(
                self._match("messages_fts"),
                _MESSAGES_FTS.c.rowid
                == select(literal_column("rowid"))
                .select_from(messages)
                .where(messages.c.id == message_id)
                .scalar_subquery(),
            )
            for message_id in message_ids
        ]
        rows = conn.execute(union_all(*lookups)).all()
        return {row.message_id: row.snippet for row in rows}


_TSQUERY = text(
    "SELECT string_agg(DISTINCT '(' || q::text || ')', ' | ') FROM ("
    " SELECT plainto_tsquery(config, :words) AS q FROM ("
    "  SELECT chatdesk_search_config(locale) AS config FROM sites"
    "  UNION ALL SELECT 'simple'::regconfig) AS configs) AS queries "
    "WHERE numnode(q) > 0"
)


class _Postgres:
    """tsvector/tsquery: the words in the language of every site the caller may search
    (a message's vector is in its site's), or'ed with the words unstemmed ('simple')."""

    message_order = messages.c.id  # ids grow with time (ids.py)
    visitor_order = visitors.c.id

    def __init__(self, conn: Connection, words: Sequence[str]) -> None:
        self.text = " ".join(words)
        # The words in every configuration the sites' messages were indexed with, and
        # unstemmed, or'ed; computed first and handed back as a constant, so the planner
        # estimates its matches from the column's statistics (a rare word: a few rows,
        # a nested loop over their conversations) where an expression gets a blind
        # guess of thousands, and a hash join that reads every conversation.
        query = conn.execute(_TSQUERY, {"words": self.text}).scalar_one()
        self.query = cast(literal(query or ""), TSQUERY)

    def prepare(self, conn: Connection) -> None:
        # The index answers a rare word in well under a millisecond; a parallel plan's
        # workers take several to start.
        conn.exec_driver_sql("SET LOCAL max_parallel_workers_per_gather = 0")

    def message_hits(self) -> Select[Any]:
        vector = literal_column("messages.search_vector", TSVECTOR)
        return (
            select(
                messages.c.conversation_id,
                messages.c.id.label("message_id"),
                (-func.ts_rank(vector, self.query, type_=Float)).label("score"),
                literal_column("1").label("tier"),
            )
            .select_from(
                messages.join(conversations, conversations.c.id == messages.c.conversation_id)
            )
            .where(vector.op("@@", return_type=Boolean)(self.query))
        )

    def visitor_hits(self) -> Select[Any]:
        vector = literal_column("visitors.search_vector", TSVECTOR)
        words = func.plainto_tsquery(
            literal_column("'simple'::regconfig"), self.text, type_=TSQUERY
        )
        return (
            select(
                conversations.c.id.label("conversation_id"),
                null().label("message_id"),
                (-func.ts_rank(vector, words, type_=Float)).label("score"),
                literal_column("0").label("tier"),
            )
            .select_from(visitors.join(conversations, conversations.c.visitor_id == visitors.c.id))
            .where(vector.op("@@", return_type=Boolean)(words))
        )

    def snippets(self, conn: Connection, message_ids: Sequence[str]) -> dict[str, str]:
        options = (
            f"StartSel={_OPEN}, StopSel={_CLOSE}, MaxWords={_SNIPPET_WORDS}, "
            'MinWords=5, ShortWord=2, MaxFragments=2, FragmentDelimiter=" … "'
        )
        config = func.chatdesk_search_config(sites.c.locale)
        rows = conn.execute(
            select(messages.c.id, func.ts_headline(config, messages.c.body, self.query, options))
            .select_from(
                messages.join(conversations, conversations.c.id == messages.c.conversation_id).join(
                    sites, sites.c.id == conversations.c.site_id
                )
            )
            .where(messages.c.id.in_(list(message_ids)))
        ).all()
        return {row[0]: row[1] for row in rows}
