"""`motcua calendar due|days`: output, Vietnamese error lines and exit status."""

from __future__ import annotations

import subprocess
import sys

import pytest

from motcua.cli.main import main


def run(
    args: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str, str]:
    """Run the real entry point (`main()`, which turns domain errors into one line + exit 1)."""
    monkeypatch.setattr(sys, "argv", ["motcua", *args])
    with pytest.raises(SystemExit) as exited:
        main()
    captured = capsys.readouterr()
    code = exited.value.code
    return (code if isinstance(code, int) else 1), captured.out, captured.err


def test_due_across_tet_2026(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(
        ["calendar", "due", "--start", "2026-02-13T09:00+07:00", "--working-days", "3"], monkeypatch, capsys
    )
    assert (code, out, err) == (0, "2026-02-25T09:00:00+07:00\n", "")


def test_due_with_cutoff_and_pause(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    args = [
        "calendar",
        "due",
        "--start",
        "2026-03-03T15:30+07:00",
        "--working-days",
        "0.5",
        "--cutoff",
        "15:00",
    ]
    assert run(args, monkeypatch, capsys)[1] == "2026-03-04T11:30:00+07:00\n"
    paused = [*args, "--pause", "2026-03-04T08:00+07:00/2026-03-04T09:00+07:00"]
    assert run(paused, monkeypatch, capsys)[1] == "2026-03-04T14:00:00+07:00\n"  # 1 h paused


def test_due_input_in_utc_is_printed_in_vietnam_time(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(
        ["calendar", "due", "--start", "2026-03-02T01:00:00Z", "--working-days", "0.25"], monkeypatch, capsys
    )
    assert (code, out) == (0, "2026-03-02T10:00:00+07:00\n")


def test_due_in_calendar_days(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        ["calendar", "due", "--start", "2026-02-10T09:00+07:00", "--calendar-days", "5"], monkeypatch, capsys
    )
    assert (code, out) == (0, "2026-02-23T09:00:00+07:00\n")


def test_due_with_open_pause_is_undefined(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(
        [
            "calendar",
            "due",
            "--start",
            "2026-03-02T09:00+07:00",
            "--working-days",
            "3",
            "--pause",
            "2026-03-03T09:00+07:00/",
        ],
        monkeypatch,
        capsys,
    )
    assert code == 0
    assert "tạm dừng" in out


@pytest.mark.parametrize(
    ("args", "code_in_message"),
    [
        (["--start", "2026-02-13T09:00", "--working-days", "3"], "calendar.naive_datetime"),
        (["--start", "13/02/2026 9h", "--working-days", "3"], "calendar.cli.bad_datetime"),
        (["--start", "2026-02-13T09:00+07:00", "--working-days", "-1"], "calendar.negative_duration"),
        (["--start", "2026-02-13T09:00+07:00", "--working-days", "ba"], "calendar.bad_duration"),
        (
            [
                "--start",
                "2026-02-13T09:00+07:00",
                "--working-days",
                "3",
                "--pause",
                "2026-02-14T09:00+07:00/2026-02-13T09:00+07:00",
            ],
            "calendar.pause_reversed",
        ),
        (
            ["--start", "2026-02-13T09:00+07:00", "--working-days", "3", "--cutoff", "25:00"],
            "calendar.bad_cutoff",
        ),
        (["--start", "2026-02-13T09:00+07:00"], "calendar.cli.duration_required"),
        (
            ["--start", "2026-02-13T09:00+07:00", "--working-days", "1", "--calendar-days", "1"],
            "duration_required",
        ),
    ],
)
def test_bad_input_gives_one_vietnamese_line_and_exit_1(
    args: list[str], code_in_message: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(["calendar", "due", *args], monkeypatch, capsys)
    assert code == 1
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("Lỗi [") and code_in_message in err


def test_days_lists_weekdays_off_and_make_up_days(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(["calendar", "days", "--year", "2026"], monkeypatch, capsys)
    assert code == 0
    lines = out.splitlines()
    by_date = {line[:10]: line for line in lines}
    assert "làm việc bù" in by_date["2026-08-22"] and "9441/TB-BNV" in by_date["2026-08-22"]
    assert "nghỉ" in by_date["2026-08-31"]
    assert "Ngày Văn hóa Việt Nam" in by_date["2026-11-24"]
    assert "Tết Nguyên Đán" in by_date["2026-02-17"]
    assert "2026-04-26" not in by_date  # a Sunday holiday is not a weekday off
    assert [line[:10] for line in lines] == sorted(by_date)


def test_days_rejects_a_bad_year(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["calendar", "days", "--year", "hai nghìn"], monkeypatch, capsys)
    assert code == 1 and "calendar.cli.bad_year" in err


def test_installed_entry_point_exit_status() -> None:
    ok = subprocess.run(
        [
            sys.executable,
            "-m",
            "motcua.cli.main",
            "calendar",
            "due",
            "--start",
            "2026-02-13T09:00+07:00",
            "--working-days",
            "3",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (ok.returncode, ok.stdout) == (0, "2026-02-25T09:00:00+07:00\n")
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "motcua.cli.main",
            "calendar",
            "due",
            "--start",
            "2026-02-13T09:00",
            "--working-days",
            "3",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 1 and "múi giờ" in bad.stderr
