"""Files in OUT: atomic writes with the umask's mode, stable names, summary.csv, transcripts.

The documents are real per-call results (the fixture calls through the real
scorer, from conftest's `scored`); the CSV is read back with the csv module
and the subtitle files are parsed by ffmpeg, a real consumer of SRT/WebVTT.
"""

from __future__ import annotations

import copy
import csv
import io
import json
import multiprocessing
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from coach.outputs import (
    OutputError,
    rebuild_summary_csv,
    remove_stale_temps,
    result_names,
    write_atomic,
)
from coach.transcripts import export_transcripts, parse_formats, transcript_as
from tests.tiny_disk import fill, tiny_disk


def with_umask(mask: int):
    class _Umask:
        def __enter__(self):
            self.old = os.umask(mask)

        def __exit__(self, *exc):
            os.umask(self.old)

    return _Umask()


@pytest.mark.parametrize(("mask", "mode"), [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_atomic_writes_follow_the_umask(tmp_path, mask, mode):
    target = tmp_path / "out" / "call.json"
    with with_umask(mask):
        write_atomic(target, '{"a": 1}\n')
        assert target.stat().st_mode & 0o777 == mode
        write_atomic(target, '{"a": 2}\n')  # a replace, too
        assert target.stat().st_mode & 0o777 == mode
    assert target.read_text() == '{"a": 2}\n'
    assert [p.name for p in target.parent.iterdir()] == ["call.json"]  # no temporary left


def test_disk_full_names_the_folder_and_leaves_the_old_file(tmp_path):
    with tiny_disk(tmp_path / "disk", 256) as disk:
        target = disk / "summary.csv"
        write_atomic(target, "old\n")
        filler = fill(disk)
        with pytest.raises(OutputError) as err:
            write_atomic(target, "x" * 200_000)
        assert str(err.value) == f"{disk}: no space left on device (writing summary.csv)"
        assert target.read_text() == "old\n"
        assert sorted(p.name for p in disk.iterdir()) == ["filler.bin", "summary.csv"]
        filler.unlink()


def test_only_old_temporaries_are_cleaned(tmp_path):
    old = tmp_path / ".a.json.1.tmp"
    young = tmp_path / ".b.json.2.tmp"
    for p in (old, young):
        p.write_text("half")
    past = time.time() - 3600
    os.utime(old, (past, past))
    assert remove_stale_temps(tmp_path, older_than_s=600) == 1
    assert not old.exists() and young.exists()  # may be a concurrent batch's write in progress


def test_names_stay_stable_and_never_overwrite_another_recording(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    day1, day2 = Path("day1/0001.wav"), Path("day2/0001.wav")
    # Run 1 scores day1 alone: the plain name.
    (n1,) = result_names([day1], out).values()
    assert n1 == "0001.json"
    (out / n1).write_text(json.dumps({"call": str(day1), "events": []}))
    # Run 2 scores day2 alone: same stem, another recording -> a hashed name.
    (n2,) = result_names([day2], out).values()
    assert n2.startswith("0001-") and n2 != n1
    (out / n2).write_text(json.dumps({"call": str(day2), "events": []}))
    # Run 3 scores both: each keeps the name it has, so resume finds both files.
    assert result_names([day1, day2], out) == {day1: n1, day2: n2}
    # The same recording spelled another way is still the same recording.
    assert result_names([Path("./day1/0001.wav")], out) == {Path("./day1/0001.wav"): n1}
    # Two new recordings sharing a stem in one run both get hashed names.
    both = result_names([Path("a/x.wav"), Path("b/x.wav")], out)
    assert len(set(both.values())) == 2 and all(n.startswith("x-") for n in both.values())


def _with_meta(result: dict, call: str, **meta) -> dict:
    doc = copy.deepcopy(result)
    doc["call"] = call
    doc["meta"] = meta
    return doc


def test_summary_is_rebuilt_from_every_result_in_out(tmp_path, scored):
    out = tmp_path / "out"
    out.mkdir()
    first = _with_meta(scored("forbidden_agent.wav"), "calls/a.wav", agent="ivanova", call_id="1",
                       started_at="2024-05-01T09:30:00", queue="sales", region="msk")
    second = _with_meta(scored("clean_call.wav"), "calls/b.wav", agent="petrov", call_id="2", vip=True)
    write_atomic(out / "a.json", json.dumps(first, ensure_ascii=False))
    rebuild_summary_csv(out)  # "run 1"
    write_atomic(out / "b.json", json.dumps(second, ensure_ascii=False))
    (out / "errors.json").write_text('{"not": "a result"}')
    (out / "broken.json").write_text('{"call": "calls/c.wav", "ev')
    warnings: list[str] = []
    path = rebuild_summary_csv(out, warn=warnings.append)  # "run 2" scored only b
    assert path == out / "summary.csv"
    assert warnings and "broken.json" in warnings[0]
    rows = list(csv.DictReader(path.open(encoding="utf-8", newline="")))
    assert [r["json"] for r in rows] == ["a.json", "b.json"]
    a, b = rows
    assert (a["agent"], a["call_id"], a["started_at"], a["queue"], a["region"]) == (
        "ivanova", "1", "2024-05-01T09:30:00", "sales", "msk"
    )
    assert (b["agent"], b["queue"], b["region"], b["vip"]) == ("petrov", "", "", "1")
    assert float(a["score"]) == first["score"]["total"]
    assert float(a["talk_ratio_agent"]) == pytest.approx(first["metrics"]["talk_ratio_agent"])
    assert int(a["critical"]) == sum(1 for e in first["events"] if e["severity"] == "critical")
    assert path.read_bytes()[:1] != b"\xef"  # plain CSV: no BOM


def test_summary_for_russian_excel(tmp_path, scored):
    out = tmp_path / "out"
    out.mkdir()
    doc = _with_meta(scored("forbidden_agent.wav"), "calls/a.wav", agent="Иванова")
    write_atomic(out / "a.json", json.dumps(doc, ensure_ascii=False))
    path = rebuild_summary_csv(out, "excel")
    raw = path.read_bytes()
    assert raw.startswith("\ufeff".encode())
    text = raw.decode("utf-8-sig")
    header = text.splitlines()[0]
    assert header.startswith("call;json;duration_s;")
    (row,) = list(csv.DictReader(io.StringIO(text), delimiter=";"))
    assert row["agent"] == "Иванова"
    ratio = doc["metrics"]["talk_ratio_agent"]
    assert row["talk_ratio_agent"] == repr(ratio).replace(".", ",") and "," in row["talk_ratio_agent"]
    assert row["duration_s"] == repr(doc["duration_s"]).replace(".", ",")
    with pytest.raises(Exception, match="--csv 'xls'"):
        rebuild_summary_csv(out, "xls")


def _batch_finishing(out: str, index: int, doc: dict) -> None:
    """What each of several concurrent `coach score` runs does at its end."""
    doc = dict(doc, call=f"calls/{index}.wav")
    write_atomic(Path(out) / f"{index}.json", json.dumps(doc, ensure_ascii=False))
    rebuild_summary_csv(out)


@pytest.mark.slow
def test_concurrent_rebuilds_end_with_every_result(tmp_path, scored):
    out = tmp_path / "out"
    out.mkdir()
    doc = scored("clean_call.wav")
    context = multiprocessing.get_context("spawn")
    procs = [context.Process(target=_batch_finishing, args=(str(out), i, doc)) for i in range(6)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0] * 6
    rows = list(csv.DictReader((out / "summary.csv").open(encoding="utf-8", newline="")))
    assert sorted(r["call"] for r in rows) == sorted(f"calls/{i}.wav" for i in range(6))
    assert not list(out.glob(".*.tmp"))


@pytest.mark.skipif(not shutil.which("ffmpeg"), reason="ffmpeg is not installed")
def test_transcripts_parse_as_subtitles(tmp_path, scored):
    out = tmp_path / "out"
    out.mkdir()
    result = scored("forbidden_agent.wav")
    write_atomic(out / "forbidden_agent.json", json.dumps(result, ensure_ascii=False))
    written = export_transcripts(out, parse_formats("srt, vtt,txt"))
    assert sorted(p.name for p in written) == [
        "forbidden_agent.srt", "forbidden_agent.txt", "forbidden_agent.vtt"
    ]
    lines = [u for u in result["transcript"] if u["text"].strip()]
    for fmt in ("srt", "vtt"):
        # ffmpeg reads the file as subtitles and writes them back as SRT.
        proc = subprocess.run(
            ["ffmpeg", "-v", "error", "-i", str(out / "transcripts" / f"forbidden_agent.{fmt}"),
             "-f", "srt", "-"],
            capture_output=True, text=True, timeout=60,
        )
        assert proc.returncode == 0, proc.stderr
        cues = [c for c in proc.stdout.strip().split("\n\n") if c.strip()]
        assert len(cues) == len(lines)
        first_time = cues[0].splitlines()[1]
        ms = round(lines[0]["start"] * 1000)
        h, m, s = ms // 3600000, ms // 60000 % 60, ms // 1000 % 60
        assert first_time.startswith(f"{h:02d}:{m:02d}:{s:02d},{ms % 1000:03d}")
        spoken = "\n".join(cues)
        assert "Не кричите на меня" in spoken
    srt = (out / "transcripts" / "forbidden_agent.srt").read_text(encoding="utf-8")
    assert "Оператор: " in srt and "Клиент: " in srt  # labels in the call's language
    vtt = (out / "transcripts" / "forbidden_agent.vtt").read_text(encoding="utf-8")
    assert vtt.startswith("WEBVTT\n") and "<v Оператор>" in vtt
    txt = (out / "transcripts" / "forbidden_agent.txt").read_text(encoding="utf-8")
    assert txt.splitlines()[0] == result["call"]
    assert sum(1 for line in txt.splitlines() if line.startswith("[")) == len(lines)
    # Markup in a line cannot break a WebVTT cue.
    evil = copy.deepcopy(result)
    evil["transcript"][0]["text"] = "a <b>bold</b> --> claim & more"
    assert "a &lt;b&gt;bold&lt;/b&gt; --&gt; claim &amp; more" in transcript_as(evil, "vtt")
    with pytest.raises(Exception, match="--transcripts 'pdf'"):
        parse_formats("pdf")
