"""A realistic city for benchmarks: `motcua bench generate --dossiers N`.

The reference data (168 commune-level units and their police, departments, workflows, the catalog) is loaded
as `motcua db setup` loads it; then a year of dossiers is generated and written through the legacy import's
bulk path (`legacy_import.import_records`: the same validation, the same COPY on PostgreSQL), so the
generator measures and exercises the import as much as it fills the database. Into empty dossier tables on
PostgreSQL it is one transaction that re-creates their secondary indexes and foreign keys after the load
(`bulk_load`): an interrupted generation leaves nothing, and the tables are locked until it commits.

What the data looks like (deterministic for a given `seed`):
- procedures: the city's catalog, popularity following Zipf's law (s = 1.1) over a seeded ranking;
- receiving units: every unit of the kinds a procedure is received at, busier wards more likely (Zipf s = 0.6);
- applicants: about one per three dossiers, citizens with well-formed personal IDs (some businesses with valid
  enterprise codes), Vietnamese names;
- dates: submissions spread over the `days` before `now` (desk filings in office hours, online ones from 6 to
  23 h), accepted within hours, resolved within about the legal time (some late), results handed over days
  later; what has not happened by `now` has not happened, so recent dossiers are in every open state
  (submitted, accepted, in process, supplement requested, fee due, resolved) and older ones closed (returned
  mostly; some refused at reception, withdrawn, stopped);
- each dossier carries the procedure's sample e-form data and 1–3 documents' metadata.
"""

from __future__ import annotations

import hashlib
import random
from bisect import bisect
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from itertools import accumulate
from typing import Any

from sqlalchemy import select
from stdnum.vn import mst as stdnum_mst

from motcua.domain.calendar import BusinessCalendar
from motcua.domain.catalog import CityProcedure, OnlineLevel, SubmissionChannel, TimeUnit
from motcua.domain.clock import VN_TZ
from motcua.domain.identifiers import format_dossier_code
from motcua.domain.lifecycle import Status
from motcua.domain.units import Unit, UnitDirectory
from motcua.services.legacy_import import DEFAULT_BATCH, ImportReport, Record, import_records
from motcua.services.seed import setup_reference_data
from motcua.services.units import directory
from motcua.store.db import Database
from motcua.store.schema.catalog import city_procedures
from motcua.store.schema.dossiers import dossier_counters

PROCEDURE_ZIPF = 1.1
UNIT_ZIPF = 0.6
DOSSIERS_PER_APPLICANT = 3
BUSINESS_SHARE = 0.03
_GRID = timedelta(minutes=5)  # instants on a 5-minute grid: the legal due dates memoise well
_FAMILY = [
    "Nguyễn",
    "Trần",
    "Lê",
    "Phạm",
    "Hoàng",
    "Huỳnh",
    "Phan",
    "Vũ",
    "Võ",
    "Đặng",
    "Bùi",
    "Đỗ",
    "Hồ",
    "Ngô",
    "Dương",
    "Lý",
]
_MIDDLE = ["Văn", "Thị", "Hữu", "Minh", "Thanh", "Ngọc", "Quốc", "Thu", "Gia", "Bảo", "Đức", "Kim"]
_GIVEN = [
    "An",
    "Bình",
    "Chi",
    "Dũng",
    "Giang",
    "Hà",
    "Hải",
    "Hạnh",
    "Hiếu",
    "Hoa",
    "Hùng",
    "Khánh",
    "Lan",
    "Linh",
    "Long",
    "Mai",
    "Nam",
    "Ngân",
    "Phúc",
    "Quân",
    "Sơn",
    "Tâm",
    "Thảo",
    "Trang",
    "Tuấn",
    "Uyên",
    "Vy",
    "Yến",
]
_PROVINCES = ("079", "079", "079", "079", "074", "077", "001", "038", "052", "086")
_DOCUMENTS = (
    "Tờ khai",
    "Giấy tờ tùy thân",
    "Giấy tờ chứng minh nơi cư trú",
    "Giấy ủy quyền",
    "Bản sao giấy tờ",
)


@dataclass(frozen=True)
class _Offer:
    """A procedure with the units that receive it and its sample form."""

    procedure: CityProcedure
    units: tuple[Unit, ...]
    unit_cumulative: tuple[float, ...]
    form_data: dict[str, Any]
    online: bool
    offline: bool
    legal_days: float


def zipf_weights(count: int, exponent: float) -> list[float]:
    """Weights 1/k^s for ranks k = 1..count."""
    return [1.0 / (rank**exponent) for rank in range(1, count + 1)]


def generate(
    db: Database,
    *,
    dossiers: int,
    now: datetime,
    seed: int = 1,
    days: int = 365,
    batch_size: int = DEFAULT_BATCH,
    calendar: BusinessCalendar | None = None,
    on_batch: Callable[[ImportReport], None] | None = None,
    receiving_units: Collection[str] | None = None,
) -> ImportReport:
    """Load the reference data (idempotent) and add `dossiers` generated dossiers through the bulk path;
    with `receiving_units`, only dossiers received at those units (one commune's own system: the procedures
    it receives, all of its dossiers in it)."""
    setup_reference_data(db, now=now)
    with db.read() as conn:
        units = directory(conn, now.date())
        procedures = [
            CityProcedure.from_dict(row.data, version=row.version)
            for row in conn.execute(
                select(city_procedures.c.data, city_procedures.c.version)
                .where(city_procedures.c.is_current.is_(True))
                .order_by(city_procedures.c.code)
            )
        ]
        counters = {
            (row.agency_code, row.day): row.last_seq for row in conn.execute(select(dossier_counters))
        }
    source = CityGenerator(
        units, procedures, now=now, seed=seed, days=days, counters=counters, receiving_units=receiving_units
    )
    return import_records(
        db,
        source.records(dossiers),
        now=now,
        source=f"bench-generate(seed={seed})",
        calendar=calendar,
        batch_size=batch_size,
        on_batch=on_batch,
        bulk_load=True,  # into empty dossier tables: indexes and foreign keys re-created after the load
    )


class CityGenerator:
    """Deterministic synthetic export rows (typed values) for `import_records`."""

    def __init__(
        self,
        units: UnitDirectory,
        procedures: Sequence[CityProcedure],
        *,
        now: datetime,
        seed: int = 1,
        days: int = 365,
        counters: dict[tuple[str, date], int] | None = None,
        receiving_units: Collection[str] | None = None,
    ) -> None:
        self.now = now.astimezone(VN_TZ)
        self.receiving_units = frozenset(receiving_units) if receiving_units else None
        self.days = days
        self.random = random.Random(seed)
        self.counters = dict(counters or {})
        self.offers = self._offers(units, procedures)
        ranking = list(range(len(self.offers)))
        self.random.shuffle(ranking)
        weights = zipf_weights(len(self.offers), PROCEDURE_ZIPF)
        self.offer_weights = [weights[ranking[i]] for i in range(len(self.offers))]
        self.offer_cumulative = list(accumulate(self.offer_weights))
        self.files = [hashlib.sha256(f"motcua-bench-file-{i}".encode()).hexdigest() for i in range(4096)]

    def _offers(self, units: UnitDirectory, procedures: Sequence[CityProcedure]) -> list[_Offer]:
        offers = []
        for procedure in procedures:
            eligible = sorted(
                (
                    u
                    for u in units
                    if u.kind.value in procedure.receiving_kinds
                    and (self.receiving_units is None or u.id in self.receiving_units)
                ),
                key=lambda u: u.id,
            )
            if not eligible or not procedure.workflow:
                continue
            self.random.shuffle(eligible)
            examples = (procedure.form_schema or {}).get("examples") or [{}]
            channels = set(procedure.channels)
            offers.append(
                _Offer(
                    procedure=procedure,
                    units=tuple(eligible),
                    unit_cumulative=tuple(accumulate(zipf_weights(len(eligible), UNIT_ZIPF))),
                    form_data=dict(examples[0]),
                    online=procedure.online is not OnlineLevel.NONE,
                    offline=bool(channels & {SubmissionChannel.DESK, SubmissionChannel.POST}),
                    legal_days=_legal_days(procedure),
                )
            )
        return offers

    def records(self, count: int) -> Iterator[tuple[int, Record]]:
        """`count` rows, numbered from 1 like the lines of a file."""
        rng = self.random
        offers = rng.choices(self.offers, cum_weights=self.offer_cumulative, k=count)
        applicants = max(count // DOSSIERS_PER_APPLICANT, 50)
        for number, offer in enumerate(offers, start=1):
            unit = offer.units[bisect(offer.unit_cumulative, rng.random() * offer.unit_cumulative[-1])]
            yield number, self._record(offer, unit, rng.randrange(applicants))

    def _record(self, offer: _Offer, unit: Unit, applicant: int) -> dict[str, Any]:
        rng = self.random
        online = offer.online and (not offer.offline or rng.random() < 0.7)
        submitted = self._submission_instant(online)
        record: dict[str, Any] = {
            "code": self._code(unit.agency_code, submitted.date()),
            "procedure_code": offer.procedure.code,
            "receiving_unit": unit.id,
            "channel": "online" if online else "desk",
            "submitted_at": submitted,
            "form_data": offer.form_data,
            "documents": self._documents(),
            **self._applicant(applicant),
        }
        record.update(self._life(submitted, offer.legal_days))
        return record

    def _submission_instant(self, online: bool) -> datetime:
        rng = self.random
        day = self.now.date() - timedelta(days=rng.randrange(self.days))
        if online:
            minute = rng.randrange(6 * 60, 23 * 60, 5)
        else:
            while day.weekday() >= 5:
                day -= timedelta(days=rng.randint(1, 2))
            minute = rng.choice((rng.randrange(450, 690, 5), rng.randrange(780, 1020, 5)))
        instant = datetime(day.year, day.month, day.day, minute // 60, minute % 60, tzinfo=VN_TZ)
        return min(instant, _floor(self.now - _GRID))

    def _code(self, agency_code: str, day: date) -> str:
        key = (agency_code, day)
        seq = self.counters.get(key, 0) + 1
        self.counters[key] = seq
        return format_dossier_code(agency_code, day, seq)

    def _applicant(self, index: int) -> dict[str, Any]:
        mixed = (index * 2654435761) & 0xFFFFFFFF  # Knuth's multiplicative hash: names spread evenly
        name = (
            f"{_FAMILY[mixed % len(_FAMILY)]} {_MIDDLE[(mixed >> 8) % len(_MIDDLE)]} "
            f"{_GIVEN[(mixed >> 16) % len(_GIVEN)]}"
        )
        if (mixed >> 24) % 100 < BUSINESS_SHARE * 100:
            return {"applicant_name": f"Công ty TNHH {name}", "applicant_tax_code": _enterprise_code(index)}
        block, serial = divmod(index, 1_000_000)
        province = _PROVINCES[block % len(_PROVINCES)]
        century, year = divmod(40 + (block * 7) % 80, 100)  # born 1940-2019, distinct per block
        return {
            "applicant_name": name,
            "applicant_personal_id": f"{province}{century * 2 + (index & 1)}{year:02d}{serial:06d}",
        }

    def _documents(self) -> list[dict[str, Any]]:
        rng = self.random
        return [
            {
                "name": f"{_DOCUMENTS[i % len(_DOCUMENTS)]}.pdf",
                "sha256": self.files[rng.randrange(len(self.files))],
                "size": 40_000 + rng.randrange(2_000_000),
                "media_type": "application/pdf",
            }
            for i in range(rng.randint(1, 3))
        ]

    def _life(self, submitted: datetime, legal_days: float) -> dict[str, Any]:
        """The dates and the status of a dossier at `now`, from a planned timeline."""
        rng, now = self.random, self.now
        accepted = submitted + _GRID * rng.randint(1, 48)
        fate = rng.random()
        if fate < 0.03:  # refused at reception
            closed = accepted
            return _past({"status": Status.REJECTED, "closed_at": closed}, now)
        if fate < 0.05:  # withdrawn by the applicant
            closed = submitted + _GRID * rng.randint(1, 2000)
            return _past({"status": Status.WITHDRAWN, "closed_at": closed}, now)
        if accepted > now:
            return {"status": Status.SUBMITTED}
        spent = timedelta(days=legal_days * rng.uniform(0.3, 1.4) * 1.4)
        resolved = _floor(accepted + spent)
        if fate < 0.06 and resolved <= now:  # stopped
            return {"status": Status.STOPPED, "accepted_at": accepted, "closed_at": resolved}
        if resolved > now:
            pause = rng.random()
            if pause < 0.08:
                paused = min(_floor(accepted + (now - accepted) / 2), now)
                return {"status": Status.SUPPLEMENT_REQUESTED, "accepted_at": accepted, "paused_at": paused}
            if pause < 0.12:
                paused = min(_floor(accepted + (now - accepted) / 2), now)
                return {"status": Status.FEE_DUE, "accepted_at": accepted, "paused_at": paused}
            status = Status.ACCEPTED if pause < 0.3 else Status.IN_PROCESS
            return {"status": status, "accepted_at": accepted}
        returned = resolved + _GRID * rng.randint(12, 1000)
        outcome = "refused" if rng.random() < 0.02 else "approved"
        if returned > now:
            return {
                "status": Status.RESOLVED,
                "accepted_at": accepted,
                "resolved_at": resolved,
                "outcome": outcome,
            }
        return {
            "status": Status.RETURNED,
            "accepted_at": accepted,
            "resolved_at": resolved,
            "returned_at": returned,
            "outcome": outcome,
        }


def _past(life: dict[str, Any], now: datetime) -> dict[str, Any]:
    """A closing that would lie in the future has not happened yet: the dossier is still just submitted."""
    return life if life["closed_at"] <= now else {"status": Status.SUBMITTED}


def _enterprise_code(index: int) -> str:
    """A valid enterprise code (10 digits, the last a check digit) derived from `index`."""
    sequence = index % 9_999_999 + 1
    while True:
        head = f"03{sequence:07d}"
        check = stdnum_mst.calc_check_digit(head)
        if len(check) == 1:  # a sequence whose check digit would be 10 is never issued
            return head + check
        sequence = sequence % 9_999_999 + 1


def _floor(instant: datetime) -> datetime:
    return instant - timedelta(
        minutes=instant.minute % 5, seconds=instant.second, microseconds=instant.microsecond
    )


def _legal_days(procedure: CityProcedure) -> float:
    amount = float(procedure.time.amount)
    if procedure.time.unit is TimeUnit.HOUR:
        return amount / 8
    return amount


__all__ = ["CityGenerator", "generate", "zipf_weights"]
