"""A bounded view of a long conversation, so a message costs the same at turn 500 as at
turn 5.

Rasa replays and featurizes every event of the session several times per message (the
policies' `past_states`, `applied_events`, the copy sent to the action server): at turn
150 a message cost 4x one at turn 1, and it kept growing. The policies only look a few
turns back (MemoizationPolicy max_history 4, rules spanning two user turns), so the
tracker store hands Rasa a `WindowedTracker`: the conversation's state where the window
starts (slot values, paused or not, the latest bot message), as a few events, then the
recent events as they happened. Rasa appends the new turn to it; the store maps the new
events back onto the full conversation (`merge`) and writes them, so the database keeps
the whole history.

Where the window starts, and why the view behaves exactly as the whole conversation:
- at an `action_listen` (a turn boundary) after the session's latest start, so reverts
  (fallback) and session expiry only ever reach events inside the window;
- with no form active there (a form's turns are folded back to its start by Rasa's
  `applied_events`), so a form is always seen from its activation;
- with at least `turns` user messages and `MIN_POLICY_STATES` turns the MemoizationPolicy
  sees (rule-only turns are hidden from it, so it can look further back than 4 turns).

The action server gets the window's events, except the actions in `FULL_HISTORY_ACTIONS`
(the handoff stores the transcript) and anything else reading `current_state(ALL)`
(Rasa's HTTP API), which get the whole conversation, as before.
"""

from __future__ import annotations

import copy
import itertools
import weakref
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from rasa.core.actions.action import RemoteAction
from rasa.shared.core.constants import ACTION_LISTEN_NAME
from rasa.shared.core.events import (
    ActionExecuted,
    ActionReverted,
    ActiveLoop,
    ConversationPaused,
    Event,
    Restarted,
    SessionStarted,
    SlotSet,
    UserUtteranceReverted,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker, EventVerbosity

# MemoizationPolicy's max_history (config.yml) is 4: the window holds twice as many turns
# the policy sees (not hidden as rule-only), so its states never reach the window's start.
MIN_POLICY_STATES = 8
# Actions whose code reads the conversation's history, not only its latest turn.
FULL_HISTORY_ACTIONS = frozenset({"action_handoff_to_coordinator"})
# Windows whose state at the start is kept, one per conversation (like the store's copies).
KEPT_WINDOWS = 500


class WindowedTracker(DialogueStateTracker):
    """The recent part of a conversation, with the state it had where the part starts."""

    full: DialogueStateTracker  # the whole conversation, as the store holds it
    cut: int  # events of `full` before the window
    prefix: int  # events of this tracker standing for the state at `cut`
    merged: int  # events of this tracker already in `full`
    recent_only: bool = False  # current_state(ALL) gives the window only (action calls)

    def _events_for_verbosity(self, event_verbosity: EventVerbosity) -> list[Event] | None:
        whole = (EventVerbosity.ALL, EventVerbosity.AFTER_RESTART)
        if event_verbosity not in whole or (self.recent_only and event_verbosity != whole[0]):
            return super()._events_for_verbosity(event_verbosity)
        window = list(itertools.islice(self.events, self.prefix, None))
        if self.recent_only:
            return window
        # Rasa's HTTP API and every other reader: the whole conversation, as before.
        events = list(itertools.islice(self.full.events, self.cut)) + window
        if event_verbosity == EventVerbosity.AFTER_RESTART:
            restarts = [i for i, item in enumerate(events) if isinstance(item, Restarted)]
            return events[restarts[-1] + 1 :] if restarts else events
        return events

    def init_copy(self) -> DialogueStateTracker:
        """Rasa runs each action on a copy: the copy knows the whole conversation too."""
        duplicate = WindowedTracker(
            self.sender_id,
            self.slots.values(),
            self._max_event_history,
            is_rule_tracker=self.is_rule_tracker,
        )
        duplicate.full, duplicate.cut, duplicate.prefix = self.full, self.cut, self.prefix
        duplicate.merged = 0
        return duplicate

    def merge(self) -> DialogueStateTracker:
        """The full conversation with the events Rasa added to this view since."""
        new = list(itertools.islice(self.events, self.merged, None))
        if any(isinstance(item, (UserUtteranceReverted, ActionReverted)) for item in new):
            # Applied to the whole conversation, a revert replays all of it; this window
            # is in the conversation's state (its point), so that state is copied instead.
            self.full.events.extend(new)
            _copy_state(self, self.full)
        else:
            for item in new:
                self.full.update(item)
        self.merged = len(self.events)
        self.full.model_id = self.model_id
        self.full.assistant_id = self.assistant_id
        return self.full

    @contextmanager
    def window_only(self) -> Iterator[None]:
        self.recent_only = True
        try:
            yield
        finally:
            self.recent_only = False


@dataclass
class _Start:
    """Where a conversation's window starts, with the state there as events."""

    # Weak: a conversation the store no longer keeps is not kept alive here.
    full: weakref.ref[DialogueStateTracker]
    cut: int
    state: list[Event]


class TrackerWindows:
    """Builds the windowed view of a conversation; keeps where each one starts, so that
    moving the start costs the events it moves over, not the whole conversation."""

    def __init__(self, turns: int) -> None:
        self.turns = turns
        self._starts: OrderedDict[str, _Start] = OrderedDict()

    def view(self, full: DialogueStateTracker) -> DialogueStateTracker:
        """A `WindowedTracker` over `full`, or `full` itself while it is short."""
        sender_id = full.sender_id
        known = self._starts.get(sender_id)
        if known is not None and known.full() is not full:
            known = None  # read again from the database: a new object, maybe other events
        events = full.events
        floor = known.cut if known else 0
        cut = self._latest_start(events, floor)
        if cut is None:
            return full
        # Moving the start (cut >= known.cut) replays only the state and the events it
        # moves over: the window stays as short as it may be.
        if known is None or cut != known.cut:
            known = self._start_at(full, cut, known)
        self._keep(sender_id, known)
        return self._build(full, known)

    def _latest_start(self, events: Any, floor: int) -> int | None:
        """The latest index where a window may start (see the module's docstring), or
        None when no index after the session's start qualifies."""
        # One pass forward from `floor` (a valid start, or the beginning): where the
        # session starts, where no form is active at an action_listen.
        candidates: list[int] = []  # indexes in `tail`
        active = False
        first = -1  # candidates come after this index (the session's start)
        tail = list(itertools.islice(events, floor, None))
        for index, item in enumerate(tail):
            if isinstance(item, (SessionStarted, Restarted)):
                candidates.clear()
                active = False
                first = index
            elif isinstance(item, ActiveLoop):
                active = item.name is not None
            elif (
                isinstance(item, ActionExecuted)
                and item.action_name == ACTION_LISTEN_NAME
                and not active
                and index > first
            ):
                candidates.append(index)
        if not candidates:
            return None
        # Backwards: the latest candidate with enough turns after it.
        users = states = 0
        position = len(tail)
        for candidate in reversed(candidates):
            for item in tail[candidate:position]:
                if isinstance(item, UserUttered):
                    users += 1
                elif isinstance(item, ActionExecuted) and not item.hide_rule_turn:
                    states += 1
            position = candidate
            if users >= self.turns and states >= MIN_POLICY_STATES:
                return floor + candidate
        return None

    def _start_at(self, full: DialogueStateTracker, cut: int, known: _Start | None) -> _Start:
        """The state at `cut`: replayed from the previous start when there is one (the
        events in between), else from the beginning (once per conversation read)."""
        if known is not None and known.cut <= cut:
            replay = [*known.state, *itertools.islice(full.events, known.cut, cut)]
        else:
            replay = list(itertools.islice(full.events, cut))
        state = DialogueStateTracker.from_events(full.sender_id, replay, list(full.slots.values()))
        return _Start(weakref.ref(full), cut, _state_events(state))

    def _build(self, full: DialogueStateTracker, start: _Start) -> WindowedTracker:
        tracker = WindowedTracker(full.sender_id, list(full.slots.values()))
        for item in itertools.chain(start.state, itertools.islice(full.events, start.cut, None)):
            tracker.update(item)
        tracker.full = full
        tracker.cut = start.cut
        tracker.prefix = len(start.state)
        tracker.merged = len(tracker.events)
        tracker.model_id = full.model_id
        tracker.assistant_id = full.assistant_id
        return tracker

    def _keep(self, sender_id: str, start: _Start) -> None:
        self._starts[sender_id] = start
        self._starts.move_to_end(sender_id)
        while len(self._starts) > KEPT_WINDOWS:
            self._starts.popitem(last=False)


def _state_events(tracker: DialogueStateTracker) -> list[Event]:
    """Events that give a new tracker the state `tracker` is in (at a turn boundary with no
    form active): the slots set, paused or not, the latest bot message (the NLG checks
    whether the assistant has spoken in this session)."""
    events: list[Event] = [
        SlotSet(name, slot.value) for name, slot in tracker.slots.items() if slot.has_been_set
    ]
    bot = tracker.latest_bot_utterance
    if bot is not None and (bot.text or bot.data):
        events.append(bot)
    if tracker.is_paused():
        events.append(ConversationPaused())
    return events


def _copy_state(source: DialogueStateTracker, target: DialogueStateTracker) -> None:
    """The state attributes DialogueStateTracker re-creates from its events."""
    target.slots = {name: copy.copy(slot) for name, slot in source.slots.items()}
    target._paused = source._paused
    target.followup_action = source.followup_action
    target.latest_action = copy.copy(source.latest_action)
    target.latest_message = source.latest_message
    target.latest_bot_utterance = source.latest_bot_utterance
    target.active_loop = copy.copy(source.active_loop)


_original_call_format = RemoteAction._action_call_format


def window_aware_call_format(self: RemoteAction, tracker: DialogueStateTracker, domain: Any) -> Any:
    """The action server gets the window's events, but for the actions that read history.
    Installed by components/rasa_fixes.py (patch `windowed-action-call`)."""
    if isinstance(tracker, WindowedTracker) and self.name() not in FULL_HISTORY_ACTIONS:
        with tracker.window_only():
            return _original_call_format(self, tracker, domain)
    return _original_call_format(self, tracker, domain)
