"""Call metadata from a manifest, sidecar JSON files and file-name patterns.

These are the files a QA lead actually has: a manifest exported from the
telephony system (sometimes by Russian Excel: BOM and ';'), sidecars written
next to recordings, recordings named `agent_date_id.wav`. Bad input must be
one line naming the file and row.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from coach.metadata import (
    Manifest,
    MetadataError,
    MetadataSource,
    NamePattern,
    apply_meta,
    call_date,
    normalize_started_at,
    sidecar_path,
)

PATTERN = "{agent}_{started_at:%Y%m%d-%H%M%S}_{call_id}"


@pytest.fixture
def calls(tmp_path, monkeypatch):
    """A folder of (empty) recordings named as a telephony system names them."""
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "calls"
    folder.mkdir()
    names = ["ivanova_20240501-093000_77812.wav", "petrov_20240502-141501_77813.wav", "odd name.wav"]
    for name in names:
        (folder / name).write_bytes(b"")
    return folder


def test_name_pattern_reads_fields_and_dates(calls):
    pattern = NamePattern.compile(PATTERN)
    meta = pattern.match(calls / "ivanova_20240501-093000_77812.wav")
    assert meta == {"agent": "ivanova", "started_at": "2024-05-01T09:30:00", "call_id": "77812"}
    assert pattern.match(calls / "odd name.wav") is None
    # A template with '/' reads the folder too; %z keeps the offset.
    nested = NamePattern.compile("{queue}/{agent}-{started_at:%Y-%m-%dT%H%M%z}")
    assert nested.match(Path("/x/sales/ivanova-2024-05-01T0930+0300.mp3")) == {
        "queue": "sales",
        "agent": "ivanova",
        "started_at": "2024-05-01T09:30:00+03:00",
    }


@pytest.mark.parametrize(
    ("template", "problem"),
    [
        ("{agent", "expected '}'"),
        ("{agent}_{agent}", "appears twice"),
        ("{agent}_{started_at:%Q}", "'%Q' is not supported"),
        ("no fields", "no {field}"),
        ("{0}_x", "not a field name"),
    ],
)
def test_bad_name_pattern_is_one_line_naming_it(template, problem):
    with pytest.raises(MetadataError) as err:
        MetadataSource.from_options(name_pattern=template)
    message = str(err.value)
    assert "--name-pattern" in message and problem in message and "\n" not in message


def test_a_date_that_fits_the_shape_but_not_the_calendar_names_the_file(calls):
    bad = calls / "ivanova_20241301-093000_1.wav"
    bad.write_bytes(b"")
    with pytest.raises(MetadataError, match=r"ivanova_20241301-093000_1\.wav: started_at '20241301-093000'"):
        MetadataSource.from_options(name_pattern=PATTERN).for_call(bad)


def test_names_that_do_not_fit_are_warnings_not_failures(calls):
    source = MetadataSource.from_options(name_pattern=PATTERN)
    metas, warnings = source.for_calls(sorted(calls.iterdir()))
    assert metas[calls / "odd name.wav"] == {}
    assert metas[calls / "petrov_20240502-141501_77813.wav"]["started_at"] == "2024-05-02T14:15:01"
    assert warnings == [f"{calls / 'odd name.wav'}: file name does not fit --name-pattern {PATTERN!r}"]


def test_manifest_matches_paths_names_and_stems(calls, tmp_path):
    manifest = tmp_path / "calls.csv"
    manifest.write_text(
        "file,agent,call_id,started_at,queue,Region\n"
        "calls/ivanova_20240501-093000_77812.wav,ivanova,A-1,2024-05-01 09:30:00+03:00,sales,msk\n"
        "petrov_20240502-141501_77813,petrov,A-2,02.05.2024 14:15,support,\n"
        "/elsewhere/odd name.wav,sidorova,A-3,1714555800,,spb\n",
        encoding="utf-8",
    )
    m = Manifest.load(manifest)
    source = MetadataSource(manifest=m)
    # By relative path (from the manifest's folder, which is also the current one here).
    assert source.for_call(Path("calls/ivanova_20240501-093000_77812.wav")) == {
        "agent": "ivanova",
        "call_id": "A-1",
        "started_at": "2024-05-01T09:30:00+03:00",
        "queue": "sales",
        "region": "msk",
    }
    # By stem; an empty cell is no value.
    assert source.for_call(calls / "petrov_20240502-141501_77813.wav") == {
        "agent": "petrov",
        "call_id": "A-2",
        "started_at": "2024-05-02T14:15:00",
        "queue": "support",
    }
    # By file name, though the manifest's path is elsewhere; Unix seconds are UTC.
    odd = source.for_call(calls / "odd name.wav")
    assert odd["agent"] == "sidorova" and odd["started_at"] == "2024-05-01T09:30:00+00:00"
    assert source.for_call(Path("unknown.wav")) == {}


def test_manifest_from_russian_excel_with_bom_and_semicolons(tmp_path):
    manifest = tmp_path / "звонки.csv"
    manifest.write_bytes(
        "\ufefffile;agent;started_at;команда\r\n0001.wav;Иванова;01.05.2024 09:30:00;Продажи\r\n".encode()
    )
    meta = MetadataSource.from_options(manifest).for_call(Path("/data/0001.wav"))
    assert meta == {"agent": "Иванова", "started_at": "2024-05-01T09:30:00", "команда": "Продажи"}


def test_a_name_two_rows_share_matches_only_by_full_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    manifest = tmp_path / "m.csv"
    manifest.write_text("file,agent\nday1/0001.wav,ivanova\nday2/0001.wav,petrov\n", encoding="utf-8")
    source = MetadataSource.from_options(manifest)
    assert source.for_call(Path("day1/0001.wav"))["agent"] == "ivanova"
    assert source.for_call(tmp_path / "day2" / "0001.wav")["agent"] == "petrov"
    assert source.for_call(Path("/other/0001.wav")) == {}  # ambiguous by name alone


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("agent,call_id\nivanova,1\n", "needs a 'file' column"),
        ("file,agent\na.wav,x\na.wav,y\n", "row 3: 'a.wav' is already on row 2"),
        ("file,started_at\na.wav,yesterday\n", "row 2: started_at 'yesterday' is not a date/time"),
        ("file,agent\n,ivanova\n", "row 2: empty 'file'"),
        ("file,agent\na.wav,x,extra\n", "row 2: 3 values but 2 columns"),
        ("", "manifest is empty"),
        ("file,agent,Agent\na.wav,x,y\n", "column 'agent' appears twice"),
    ],
)
def test_bad_manifest_is_one_line_naming_file_and_row(tmp_path, content, problem):
    manifest = tmp_path / "calls.csv"
    manifest.write_text(content, encoding="utf-8")
    with pytest.raises(MetadataError) as err:
        MetadataSource.from_options(manifest)
    message = str(err.value)
    assert message.startswith(str(manifest)) and problem in message and "\n" not in message


def test_missing_or_binary_manifest(tmp_path):
    with pytest.raises(MetadataError, match="no such manifest file"):
        MetadataSource.from_options(tmp_path / "nope.csv")
    binary = tmp_path / "calls.csv"
    binary.write_bytes(b"\xff\xfe\x00f\x00i")
    with pytest.raises(MetadataError, match="not UTF-8"):
        MetadataSource.from_options(binary)


def test_sidecar_next_to_the_recording(calls):
    audio = calls / "odd name.wav"
    assert sidecar_path(audio) == calls / "odd name.meta.json"
    sidecar_path(audio).write_text(
        json.dumps({"agent": "sidorova", "call_id": 555, "started_at": "2024-05-03T08:00:00Z", "vip": True}),
        encoding="utf-8",
    )
    meta = MetadataSource.from_options().for_call(audio)
    assert meta == {
        "agent": "sidorova", "call_id": "555", "started_at": "2024-05-03T08:00:00+00:00", "vip": True
    }
    sidecar_path(audio).write_text("{not json", encoding="utf-8")
    with pytest.raises(MetadataError, match=r"odd name\.meta\.json: not valid JSON"):
        MetadataSource.from_options().for_call(audio)
    sidecar_path(audio).write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(MetadataError, match="must be a JSON object"):
        MetadataSource.from_options().for_call(audio)


def test_manifest_beats_sidecar_beats_name_field_by_field(calls, tmp_path):
    audio = calls / "ivanova_20240501-093000_77812.wav"
    sidecar = {"agent": "from-sidecar", "queue": "support"}
    sidecar_path(audio).write_text(json.dumps(sidecar), encoding="utf-8")
    manifest = tmp_path / "m.csv"
    manifest.write_text(f"file,queue,team\n{audio.name},sales,A\n", encoding="utf-8")
    meta = MetadataSource.from_options(manifest, PATTERN).for_call(audio)
    assert meta == {
        "agent": "from-sidecar",  # sidecar over the name
        "call_id": "77812",  # only the name knows it
        "started_at": "2024-05-01T09:30:00",
        "queue": "sales",  # manifest over the sidecar
        "team": "A",
    }
    assert list(meta)[:4] == ["agent", "call_id", "started_at", "queue"]  # known fields first


def test_the_older_agent_regex_is_the_weakest_source(calls):
    source = MetadataSource.from_options(agent_regex=r"^(?P<agent>[a-z]+)_")
    assert source.for_call(calls / "petrov_20240502-141501_77813.wav") == {"agent": "petrov"}
    with pytest.raises(MetadataError, match="--agent-pattern"):
        MetadataSource.from_options(agent_regex="(")


def test_apply_meta_changes_only_what_changed():
    result = {"call": "a.wav", "events": []}
    assert apply_meta(result, {"agent": "ivanova"}) is True
    assert result["meta"] == {"agent": "ivanova"}
    assert apply_meta(result, {"agent": "ivanova"}) is False
    assert apply_meta(result, {}) is False and result["meta"] == {"agent": "ivanova"}  # a run without sources
    assert apply_meta(result, {"queue": "sales"}) is True  # a later manifest adds a field...
    assert result["meta"] == {"agent": "ivanova", "queue": "sales"}  # ... and keeps the others
    assert apply_meta(result, {"agent": "petrov"}) is True and result["meta"]["agent"] == "petrov"
    assert apply_meta({"call": "b.wav", "events": []}, {}) is False


def test_started_at_forms():
    assert normalize_started_at("2024-05-01T09:30:00Z", "x") == "2024-05-01T09:30:00+00:00"
    assert normalize_started_at("2024-05-01 09:30", "x") == "2024-05-01T09:30:00"
    assert normalize_started_at("20240501T093000", "x") == "2024-05-01T09:30:00"
    assert normalize_started_at("2024/05/01", "x") == "2024-05-01T00:00:00"
    assert normalize_started_at(1714555800, "x") == "2024-05-01T09:30:00+00:00"
    assert call_date("2024-05-01T23:30:00-05:00") == "2024-05-01"  # the call's own date, not UTC's
    assert call_date(None) is None


def test_coach_report_rejects_a_bad_manifest_with_one_line(tmp_path):
    import subprocess
    import sys

    out = tmp_path / "out"
    out.mkdir()
    manifest = tmp_path / "m.csv"
    manifest.write_text("agent\nx\n", encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "coach", "report", str(out), "--manifest", str(manifest)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"coach: error: {manifest}: manifest needs a 'file' column naming each recording (found: agent)"
    ]
