"""Routing keys: which parked readers an event (or a typing signal) concerns.

A reader parks under the keys of what it may see; an event carries the keys of
everyone who may see it; the hub wakes a reader when the two share a key. The
keys are coarser than the visibility filter of ``queries.events.read_events``
(a woken reader re-reads the log with its exact filter), never narrower.
"""

from __future__ import annotations

from chatdesk.security.principals import OperatorActor, VisitorActor

__all__ = ["EVERYTHING", "OPERATORS", "Key", "event_keys", "reader_keys"]

Key = tuple[str, str]
# Operators who see every site (admins and owners) park under this one key.
EVERYTHING: Key = ("all", "")
# Every operator's reader parks under this key too: what concerns the whole team and no
# site (``operator.presence``). No stored event carries it, and no visitor parks under it.
OPERATORS: Key = ("ops", "")


def _site(site_id: str) -> Key:
    return ("s", site_id)


def _visitor(visitor_id: str) -> Key:
    return ("v", visitor_id)


def reader_keys(actor: OperatorActor | VisitorActor) -> tuple[Key, ...]:
    """The keys a reader parks under: its own visitor key, or its sites' keys and the
    team's."""
    if isinstance(actor, VisitorActor):
        return (_visitor(actor.visitor_id),)
    if actor.site_ids is None:
        return (EVERYTHING, OPERATORS)
    return (*(_site(site_id) for site_id in sorted(actor.site_ids)), OPERATORS)


def event_keys(site_id: str, visitor_id: str | None) -> list[Key]:
    """The keys of everyone who may see an event of ``site_id``: its operators and,
    when ``visitor_id`` is given, that visitor (None: not shown to the visitor)."""
    keys = [EVERYTHING, _site(site_id)]
    if visitor_id:
        keys.append(_visitor(visitor_id))
    return keys
