"""The Desk's commands: what the overlay's buttons and the HTTP API ask of the running calls.

Commands arrive from the hub's threads (`Desk.submit` queues them with a Future); the Desk's
one worker thread answers them between steps (`_run_commands`, `_wait_commands`), so a
command never touches a Session while Whisper is decoding for it. Each answer is a dict
the API returns as JSON, or a CommandError carrying the HTTP status.

This is a mixin of `coach.live.calls.Desk` (it uses the Desk's call state and its
`_start_live_call`, `_end_call`, `_idle` and `_publish_state`), kept apart because it is
the Desk's surface towards the outside, validated field by field.
"""

from __future__ import annotations

import concurrent.futures
import logging
import queue
import time
from typing import Any

from coach.contract import call_message, feedback_message
from coach.live.hub import CommandError
from coach.outputs import OutputError, write_atomic

log = logging.getLogger(__name__)

MAX_FIELD = 200  # characters of an agent name or call id accepted from the API
MAX_NAME = 60  # characters of a customer's name from the overlay or the API


class DeskCommands:
    """Answers the Desk's queued commands (module docstring); mixed into `Desk`."""

    call: Any
    last: Any
    options: Any

    # -- commands ---------------------------------------------------------------------------

    def _run_commands(self) -> None:
        while True:
            try:
                command, future = self._commands.get_nowait()
            except queue.Empty:
                return
            self._answer(command, future)

    def _wait_commands(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self._stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            try:
                command, future = self._commands.get(timeout=min(left, 0.2))
            except queue.Empty:
                continue
            self._answer(command, future)

    def _answer(self, command: dict[str, Any], future: concurrent.futures.Future) -> None:
        if not future.set_running_or_notify_cancel():
            return
        try:
            future.set_result(self._command(command))
        except CommandError as exc:
            future.set_exception(exc)
        except Exception as exc:  # a bug in a command must not end the calls
            log.exception("command %s failed", command.get("type"))
            future.set_exception(CommandError(500, f"{type(exc).__name__}: {exc}"))

    def _fail_pending(self) -> None:
        while True:
            try:
                _, future = self._commands.get_nowait()
            except queue.Empty:
                return
            if future.set_running_or_notify_cancel():
                future.set_exception(CommandError(503, "coach is stopping"))

    def _command(self, command: dict[str, Any]) -> dict[str, Any]:
        kind = command.get("type")
        if kind == "feedback":
            return self._feedback(command)
        if kind == "call" and command.get("action") == "start":
            return self._api_start(command)
        if kind == "call" and command.get("action") == "end":
            return self._api_end(command)
        if kind == "name":
            return self._set_name(command)
        raise CommandError(400, f"unknown command {kind!r}")

    def _set_name(self, command: dict[str, Any]) -> dict[str, Any]:
        """The customer's name from the agent (one click in the overlay) or a CRM (the API):
        confirmed for the rest of the running call, so the next suggestions carry it; an empty
        name clears it (the rules listen for the name again)."""
        if "name" not in command:
            raise CommandError(400, "'name' is required (empty clears the name)")
        name = _text_field(command, "name")
        if name is not None and len(name) > MAX_NAME:
            raise CommandError(400, f"'name' must be at most {MAX_NAME} characters")
        if self.call is None:
            raise CommandError(409, "no call in progress")
        status = self.call.pipeline.set_customer_name(name)
        self.call.names.append({"name": status.get("name"), "typed": name, "at": round(time.time(), 3),
                                "via": str(command.get("via") or "api")})
        return {"status": 200, "name": status, "call": self.call.meta.to_dict()}

    def _api_start(self, command: dict[str, Any]) -> dict[str, Any]:
        if self.options.mode != "live":
            raise CommandError(409, "replay: each recording is a call; calls cannot be started")
        call_id = _text_field(command, "call_id")
        agent = _text_field(command, "agent")
        via = str(command.get("via") or "api")
        now = time.time()
        current = self.call
        if (current is not None and current.meta.reason == "speech" and current.meta.call_id is None
                and now - current.meta.started_at <= self.options.adopt_s and via == "api"):
            current.meta.call_id = call_id  # the softphone names the call that speech just began
            current.meta.agent = agent or current.meta.agent
            if call_id:
                current.name = call_id
            self.publish(call_message("named", call_id=call_id, agent=current.meta.agent,
                                      number=current.meta.number))
            self._publish_state()
            return {"status": 200, "call": current.meta.to_dict(), "adopted": True}
        if current is not None:
            self._end_call(f"new call ({via})")
        call = self._start_live_call(via, self._stream_pos, call_id=call_id, agent=agent)
        return {"status": 200, "call": call.meta.to_dict(), "adopted": False}

    def _api_end(self, command: dict[str, Any]) -> dict[str, Any]:
        if self.call is None:
            raise CommandError(409, "no call in progress")
        via = str(command.get("via") or "api")
        call = self._end_call(via)
        if self.options.mode == "live":
            self._idle(via)
        assert call.result is not None
        return {"status": 200, "call": call.meta.to_dict(), "score": call.result.total_score,
                "events": len(call.result.events), "saved": str(call.saved) if call.saved else None}

    def _feedback(self, command: dict[str, Any]) -> dict[str, Any]:
        """"Not helpful" on a card: kept with the call (the running one, else the last)."""
        rule = _text_field(command, "rule")
        if not rule:
            raise CommandError(400, "feedback needs the card's 'rule'")
        start = command.get("start")
        if start is not None:
            try:
                start = round(float(start), 2)
            except (TypeError, ValueError):
                raise CommandError(400, "'start' must be a number of seconds or null") from None
        call = self._feedback_target(command)
        at = time.time()
        item = {"rule": rule, "start": start, "at": round(at, 3)}
        category = _text_field(command, "category")
        if category:
            item["category"] = category
        call.feedback.append(item)
        if call.result is not None:  # the call is over: its saved result gets the feedback too
            call.result.extra["feedback"] = call.feedback
            if call.saved is not None:
                try:
                    write_atomic(call.saved, call.result.to_json())
                except OutputError as exc:
                    raise CommandError(507, f"feedback kept in memory, not saved: {exc}") from None
        self.publish(feedback_message(rule, start, at, number=call.meta.number, call_id=call.meta.call_id))
        return {"status": 200, "feedback": item, "call": call.meta.to_dict()}

    def _feedback_target(self, command: dict[str, Any]) -> Any:
        """The call a card belonged to: the one named by `number` or `call_id` (the running or
        the last call), else the running call, else the last one."""
        calls = [c for c in (self.call, self.last) if c is not None]
        number, call_id = command.get("number"), _text_field(command, "call_id")
        if number is None and call_id is None:
            if not calls:
                raise CommandError(409, "no call to give feedback on")
            return calls[0]
        try:
            number = None if number is None else int(number)
        except (TypeError, ValueError):
            raise CommandError(400, "'number' must be a call number") from None
        for call in calls:
            if number is not None and call.meta.number == number:
                return call
            if call_id is not None and call.meta.call_id == call_id:
                return call
        raise CommandError(409, "feedback is taken for the running call and the last one only")


def _text_field(command: dict[str, Any], key: str) -> str | None:
    value = command.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise CommandError(400, f"'{key}' must be a string")
    value = str(value).strip()
    if len(value) > MAX_FIELD or any(ord(c) < 32 for c in value):
        raise CommandError(400, f"'{key}' must be at most {MAX_FIELD} printable characters")
    return value or None


