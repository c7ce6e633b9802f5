"""Who may see which stored event: the one statement of the rule.

An operator of every site (owner, admin) sees every event; an agent sees the
events of their sites; a visitor sees the events of their own conversations
that are not private (private notes, internal changes). The database read
(``queries.events.read_events``) turns a :class:`Visibility` into its WHERE
clause and the real-time hub applies :meth:`Visibility.admits` to events it
holds in memory, so both paths answer from the same rule.
"""

from __future__ import annotations

from dataclasses import dataclass

from chatdesk.security.principals import OperatorActor, VisitorActor

__all__ = ["Visibility", "visibility"]


@dataclass(frozen=True, slots=True)
class Visibility:
    """What one reader may see of the event log.

    ``visitor_id`` set: that visitor's public events only. Otherwise an operator:
    ``site_ids`` None for every site, else only those sites.
    """

    visitor_id: str | None = None
    site_ids: frozenset[str] | None = None

    @property
    def is_visitor(self) -> bool:
        return self.visitor_id is not None

    def admits(self, site_id: str, visitor_id: str | None, private: bool) -> bool:
        """Whether an event with these routing columns is shown to this reader."""
        if self.visitor_id is not None:
            return visitor_id == self.visitor_id and not private
        return self.site_ids is None or site_id in self.site_ids


def visibility(actor: OperatorActor | VisitorActor) -> Visibility:
    """The events ``actor`` may read."""
    if isinstance(actor, VisitorActor):
        return Visibility(visitor_id=actor.visitor_id)
    return Visibility(site_ids=actor.site_ids)
