"""Properties of the dossier lifecycle engine over random histories: random commands by a fixed cast, valid
or broken payloads, time moving on by minutes, hours or days, on both packaged workflows and the real
Vietnamese calendar."""

from __future__ import annotations

import copy
import dataclasses
from datetime import UTC, datetime, time, timedelta, timezone
from fractions import Fraction
from typing import Any

from hypothesis import event, given, settings
from hypothesis import strategies as st

from motcua.domain.clock import VN_TZ
from motcua.domain.errors import Conflict, DomainError, InvalidInput
from motcua.domain.lifecycle import (
    PAUSED,
    TERMINAL,
    Action,
    Actor,
    Channel,
    Command,
    Context,
    DossierState,
    ProcedureTerms,
    Status,
    TimeUnit,
    _encode,
    _iso,
    allowed_actions,
    decide,
    replay,
    state_to_dict,
)
from motcua.domain.workflow import Role, Workflow
from tests.domain.test_lifecycle import (
    AGENT,
    APPLICANT,
    CAL,
    CAST,
    DEPT,
    LIEN_THONG,
    RECEIVER,
    TIEU_CHUAN,
    WARD,
    Dossier,
    context,
    officer,
    open_dossier,
    units_for,
    valid_payload,
)

COMMANDS = tuple(action for action in Action if action is not Action.SUBMIT)
SCENARIOS: tuple[tuple[Workflow, str], ...] = ((TIEU_CHUAN, WARD), (TIEU_CHUAN, DEPT), (LIEN_THONG, DEPT))
SUBMISSIONS = ((Channel.ONLINE, APPLICANT), (Channel.DESK, RECEIVER), (Channel.AGENT, AGENT))
# Actions whose payload has a required part: a broken payload must be refused as invalid input.
NEEDS_PAYLOAD = frozenset(
    {
        Action.REFUSE_RECEPTION,
        Action.ASSIGN,
        Action.SEND_BACK,
        Action.REQUEST_SUPPLEMENT,
        Action.SUPPLEMENT,
        Action.REQUEST_FEE,
        Action.PAY_FEE,
        Action.REFUSE,
        Action.ISSUE_RESULT,
        Action.RETURN_RESULT,
        Action.STOP,
        Action.APOLOGISE,
    }
)

EARLY_ENDINGS = frozenset({Action.WITHDRAW, Action.STOP, Action.REFUSE_RECEPTION})

terms_strategy = st.builds(
    ProcedureTerms,
    code=st.just("1.001193"),
    time_amount=st.sampled_from([Fraction(1, 2), Fraction(1), Fraction(3), Fraction(15)]),
    time_unit=st.sampled_from(TimeUnit),
    cutoff=st.sampled_from([None, time(15, 0), time(11, 0)]),
)
instants = st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2026, 12, 20)).map(
    lambda moment: moment.replace(second=0, microsecond=0, tzinfo=VN_TZ)
)
backward_jumps = st.integers(1, 3 * 24 * 60).map(lambda n: timedelta(minutes=n))
delays = st.one_of(
    st.integers(0, 59).map(lambda n: timedelta(minutes=n)),
    st.integers(1, 12).map(lambda n: timedelta(hours=n)),
    st.integers(1, 6).map(lambda n: timedelta(days=n)),
)


def broken_payloads(action: Action, state: DossierState, at: datetime) -> list[dict[str, Any]]:
    """Payloads that break a rule of `action` (for actions without required fields: harmless junk)."""
    reason = {"reason": "abc"}
    due = (state.due_at or at).isoformat()
    table: dict[Action, list[dict[str, Any]]] = {
        Action.REFUSE_RECEPTION: [reason, {}],
        Action.ASSIGN: [{}, {"assignee_id": "   "}],
        Action.SEND_BACK: [reason, {"reason": None}],
        Action.REQUEST_SUPPLEMENT: [{}, {"missing": []}, {"missing": 5}, {"missing": [" ", ""]}],
        Action.SUPPLEMENT: [{}, {"note": "  "}, {"documents": 7}],
        Action.REQUEST_FEE: [
            {"amount_vnd": 0},
            {"amount_vnd": "50000"},
            {"amount_vnd": True},
            {"amount_vnd": -1},
        ],
        Action.PAY_FEE: [{}, {"reference": " "}],
        Action.REFUSE: [reason],
        Action.ISSUE_RESULT: [{"result": "QĐ số 12"}, {"result": [1, 2]}],
        Action.RETURN_RESULT: [{}, {"method": "fax"}],
        Action.STOP: [reason, {}],
        Action.APOLOGISE: [
            {"reason": "Cần xác minh thêm", "new_due_at": due},
            {"reason": "Cần xác minh thêm", "new_due_at": "thứ Hai tuần sau"},
            {"reason": "Cần xác minh thêm", "new_due_at": "2026-03-10T09:00"},
            {"reason": "trễ", "new_due_at": (at + timedelta(days=400)).isoformat()},
        ],
    }
    return table.get(action, [{"note": 12345}, {"unexpected": ["field"]}])


def pairs_allowed(state: DossierState, ctx: Context) -> list[tuple[Actor, Action]]:
    return [(actor, action) for actor in CAST for action in allowed_actions(state, actor, ctx)]


def check_invariants(d: Dossier, units: dict[str, str], now: datetime) -> None:
    s, ctx = d.state, d.ctx
    assert s.status in set(Status) and 1 <= int(s.status) <= 10
    assert [event.seq for event in d.events] == list(range(1, len(d.events) + 1))
    assert s.version == len(d.events)
    assert replay(d.events) == s
    accepted = any(event.type is Action.ACCEPT for event in d.events)
    assert (s.due_at is not None) == accepted
    assert (s.clock_start is not None) == accepted
    assert (s.paused_at is not None) == (s.status in PAUSED)
    assert s.step_unit_id == units[ctx.workflow.step(s.step).unit]
    # Whatever `allowed_actions` offers, `decide` accepts (with a payload that satisfies the rules).
    for actor, action in pairs_allowed(s, ctx):
        decide(s, Command(action, actor, now, valid_payload(action, s, now)), ctx)


def reference_encoding(state: DossierState) -> dict[str, Any]:
    """Every field encoded by `_encode`, in field order: the stored form the engine's faster paths keep."""
    return {f.name: _encode(getattr(state, f.name)) for f in dataclasses.fields(DossierState)}


def check_recorded_changes(before: DossierState, d: Dossier) -> None:
    """The event records exactly the fields that differ, encoded, in field order (the engine builds it from
    the handler's changes instead of comparing all fields), and the stored form is unchanged."""
    old, new = reference_encoding(before), reference_encoding(d.state)
    expected = {name: value for name, value in new.items() if old[name] != value}
    assert list(d.events[-1].changes.items()) == list(expected.items())
    assert list(state_to_dict(d.state).items()) == list(new.items())
    assert list(d.events[0].changes.items()) == list(reference_encoding(replay(d.events[:1])).items())


def check_terminal(d: Dossier, now: datetime) -> None:
    assert pairs_allowed(d.state, d.ctx) == []
    for action in COMMANDS:
        for actor in CAST:
            command = Command(action, actor, now, valid_payload(action, d.state, now))
            try:
                decide(d.state, command, d.ctx)
            except Conflict as error:
                assert error.code == "dossier.action_not_allowed_in_status"
            else:
                raise AssertionError(f"{action} by {actor.id} accepted on a closed dossier")


def check_time_cannot_go_back(d: Dossier, action: Action, actor: Actor, back: timedelta) -> None:
    s = d.state
    for reference in (s.step_entered_at, s.paused_at):
        if reference is None:
            continue
        try:
            decide(s, Command(action, actor, reference - back, valid_payload(action, s, reference)), d.ctx)
        except InvalidInput as error:
            assert error.code == "dossier.time_goes_back"
        else:
            raise AssertionError("a command dated before the current step or pause was accepted")


def check_resume(
    before: DossierState, after: DossierState, resumed_at: datetime, due_at_pause: datetime
) -> None:
    """Leaving a pause moves the deadlines by exactly the counted working time that was left."""
    assert before.paused_at is not None and after.due_at is not None and before.due_at is not None
    assert after.due_at >= before.due_at >= due_at_pause
    clock_start = before.clock_start
    assert clock_start is not None
    stopped, restarted = max(before.paused_at, clock_start), max(resumed_at, clock_start)
    for old, new in ((before.due_at, after.due_at), (before.step_due_at, after.step_due_at)):
        if old is None or old <= stopped:
            assert new == old  # no deadline, or already late: nothing moves
        else:
            assert new is not None
            assert CAL.working_time_between(restarted, new) == CAL.working_time_between(stopped, old)


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_random_histories_keep_the_engine_invariants(data: st.DataObject) -> None:
    workflow, competent = data.draw(st.sampled_from(SCENARIOS), label="workflow")
    channel, submitter = data.draw(st.sampled_from(SUBMISSIONS), label="submission")
    ctx, units = context(workflow, competent), units_for(competent)
    now = data.draw(instants, label="submitted at")
    d = open_dossier(
        ctx, now, terms=data.draw(terms_strategy, label="terms"), channel=channel, actor=submitter
    )
    check_invariants(d, units, now)
    due_at_pause: datetime | None = None
    for _ in range(data.draw(st.integers(1, 30), label="length")):
        now += data.draw(delays, label="delay")
        offered = pairs_allowed(d.state, ctx)
        choice = data.draw(st.integers(0, 9), label="kind of command")
        if offered and choice >= 2:  # mostly an offered command, rarely one that ends the dossier early
            onward = [pair for pair in offered if pair[1] not in EARLY_ENDINGS]
            actor, action = data.draw(
                st.sampled_from(onward if onward and choice < 9 else offered), label="offered"
            )
        else:  # any actor, any action
            actor = data.draw(st.sampled_from(CAST), label="actor")
            action = data.draw(st.sampled_from(COMMANDS), label="action")
        valid = data.draw(st.integers(0, 4), label="valid payload") > 0
        options = [valid_payload(action, d.state, now)] if valid else broken_payloads(action, d.state, now)
        payload = data.draw(st.sampled_from(options), label="payload")
        check_time_cannot_go_back(d, action, actor, data.draw(backward_jumps, label="back"))

        before = copy.deepcopy(d.state)
        was_offered = (actor, action) in offered
        try:
            d.act(action, actor, now, **payload)
        except DomainError as error:
            assert d.state == before, "a refused command changed the state"
            if was_offered:  # only the payload can be wrong for an offered action
                assert isinstance(error, InvalidInput) and not valid, error
            continue
        assert was_offered, f"{action} by {actor.id} was accepted but not offered"
        check_recorded_changes(before, d)
        if action in NEEDS_PAYLOAD and not valid:
            raise AssertionError(f"{action} accepted a broken payload {payload!r}")

        if d.state.status in PAUSED and before.status not in PAUSED:
            due_at_pause = before.due_at
        if before.status in PAUSED and d.state.status not in PAUSED and before.clock_start is not None:
            assert due_at_pause is not None
            if action in (Action.SUPPLEMENT, Action.PAY_FEE):
                check_resume(before, d.state, now, due_at_pause)
        event(f"accepted {action.value}")
        check_invariants(d, units, now)
        if d.state.status in TERMINAL:
            check_terminal(d, now)
            break
    event(f"ended in status {int(d.state.status)} after {len(d.events) // 5 * 5}+ events")


@settings(max_examples=200, deadline=None)
@given(
    scenario=st.sampled_from(SCENARIOS),
    terms=terms_strategy,
    accepted_at=instants,
    pause_after=delays,
    pause_length=delays,
    fee=st.booleans(),
)
def test_a_pause_never_brings_the_due_date_forward(
    scenario: tuple[Workflow, str],
    terms: ProcedureTerms,
    accepted_at: datetime,
    pause_after: timedelta,
    pause_length: timedelta,
    fee: bool,
) -> None:
    workflow, competent = scenario
    d = open_dossier(context(workflow, competent), accepted_at - timedelta(minutes=5), terms=terms)
    d.do(Action.ACCEPT, RECEIVER, accepted_at)
    # The first processing step: the competent unit's in the standard workflow, the commune's in liên thông
    # (where papers, not fees, are asked for).
    processor = officer(competent if workflow is TIEU_CHUAN else WARD, Role.PROCESSOR)
    fee = fee and workflow is TIEU_CHUAN
    due_before = d.state.due_at
    assert due_before is not None
    paused_at = accepted_at + pause_after
    d.do(Action.REQUEST_FEE if fee else Action.REQUEST_SUPPLEMENT, processor, paused_at)
    before = d.state
    resumed_at = paused_at + pause_length
    d.do(Action.PAY_FEE if fee else Action.SUPPLEMENT, APPLICANT, resumed_at)
    assert d.state.status is Status.ACCEPTED and d.state.pauses == ((paused_at, resumed_at),)
    check_resume(before, d.state, resumed_at, due_before)
    assert replay(d.events) == d.state


OFFSETS = st.sampled_from(
    [None, VN_TZ, timezone(timedelta(hours=7)), timezone(timedelta(hours=-3, minutes=-30)), UTC]
)


@settings(max_examples=500, deadline=None)
@given(moment=st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 30)), tz=OFFSETS)
def test_the_fast_iso_form_is_isoformat(moment: datetime, tz: Any) -> None:
    """`_iso` (two-digit table for +07:00 instants with whole seconds) writes exactly `isoformat()`: any year,
    microseconds, other offsets, the zone's history before 1975 and naive values take `isoformat` itself."""
    value = moment.replace(tzinfo=tz)
    assert _iso(value) == value.isoformat()
    whole = value.replace(microsecond=0)
    assert _iso(whole) == whole.isoformat()


@settings(max_examples=300, deadline=None)
@given(moment=st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2100, 12, 31)))
def test_the_fast_iso_form_follows_the_zone_history_year_by_year(moment: datetime) -> None:
    """`_iso` of Vietnamese instants (its per-year table of +07:00 years instead of `utcoffset` on each call)
    writes `isoformat()` across the zone's changes of offset before 1976 and the fixed years since."""
    value = moment.replace(tzinfo=VN_TZ, microsecond=0)
    assert _iso(value) == value.isoformat()
    assert (
        _iso(value.replace(month=1, day=1, hour=0, minute=0, second=0))
        == value.replace(month=1, day=1, hour=0, minute=0, second=0).isoformat()
    )
