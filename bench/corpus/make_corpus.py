#!/usr/bin/env python3
"""Render the development corpus: scripted calls -> audio variants + `coach eval` truth.

The corpus measures how well coach generalises, so it is kept apart from the
test fixtures: its dialogues (``bench/corpus/scripts/*.yaml``) were written for
it, with their own wording, names, voices and noise. Only the scripts and this
generator are committed; the audio is rendered on demand into a git-ignored
folder (default ``bench/.corpus``)::

    python bench/corpus/make_corpus.py            # render what is missing or changed
    python bench/corpus/make_corpus.py --check    # validate the scripts, print coverage

Output::

    OUT/stereo16k/<id>.wav   16 kHz 16-bit PCM, agent LEFT, customer RIGHT
    OUT/tel8k/<id>.wav       the same through a 300-3400 Hz band, 8 kHz G.711 mu-law, stereo
    OUT/mono8k/<id>.wav      both speakers mixed to one channel, 8 kHz mu-law (diarization work)
    OUT/truth/<id>.json      the truth in `coach eval` format (docs/eval.md), same for every variant

How a line is made: festival (Russian ``msu_ru_nsh_clunits``, English
``kal_diphone``) or espeak-ng renders the text (chunks of ``tts`` one by one,
joined with a 0.2 s pause); sox shifts the pitch and tempo of the voice preset
(and the line's own ``tempo``), resamples to 16 kHz; the clip is trimmed to
speech, normalised (speech RMS at the call's channel level, peak capped so a
deliberate gain never clips) and given the line's ``gain`` in dB. Lines are
placed at whole milliseconds, so every start/end in the truth is exact.
Background noise (pink, brown, office babble) is seeded from the call id.

Deterministic: same scripts and tools -> byte-identical files (no dither,
seeded noise, bit-exact ffmpeg). Renders only calls whose script or generator
changed; the TTS output is cached under ``OUT/cache``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import wave
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

try:  # coach's pins first, as everywhere numpy loads with coach (its analyzers check the pace below)
    from coach import numerics as _pinned  # noqa: F401
except ImportError:  # `--check` with a Python that has only PyYAML
    pass

# isort: split
import numpy as np
import yaml

SR = 16_000
MS = SR // 1000
HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
SCRIPTS = HERE / "scripts"
DEFAULT_OUT = REPO / "bench" / ".corpus"
VARIANTS = ("stereo16k", "tel8k", "mono8k")
CHUNK_PAUSE_S = 0.2
TARGET_RMS_DBFS = -27.0
PEAK_CEILING_DBFS = -13.0
CLIP_CEILING_DBFS = -1.0
LINE_CATEGORIES = ("forbidden_phrase", "negative_phrasing", "diminutive", "filler_words",
                   "interruption", "raised_voice", "speech_rate", "long_silence")
CALL_CATEGORIES = ("name_not_asked", "name_not_used", "no_greeting", "no_closing")
BITEXACT = ["-fflags", "+bitexact", "-flags:a", "+bitexact", "-map_metadata", "-1"]


@dataclass(frozen=True)
class Voice:
    """A TTS voice plus the sox changes that make it a different speaker."""

    engine: str  # "festival" or "espeak"
    name: str  # festival voice function or espeak-ng voice (+variant)
    language: str
    pitch: int = 0  # sox pitch, cents
    tempo: float = 1.0  # sox tempo factor (speaking rate of the person)
    rate: int = 0  # espeak-ng -s words per minute (0: engine default)


VOICES: dict[str, Voice] = {
    # Russian: the one festival voice, made into several people with pitch and tempo.
    "ru-m": Voice("festival", "voice_msu_ru_nsh_clunits", "ru"),
    "ru-m-low": Voice("festival", "voice_msu_ru_nsh_clunits", "ru", pitch=-150, tempo=0.95),
    "ru-m-quick": Voice("festival", "voice_msu_ru_nsh_clunits", "ru", pitch=100, tempo=1.12),
    "ru-hi200": Voice("festival", "voice_msu_ru_nsh_clunits", "ru", pitch=200, tempo=1.05),
    "ru-hi300": Voice("festival", "voice_msu_ru_nsh_clunits", "ru", pitch=300, tempo=1.0),
    "ru-hi450": Voice("festival", "voice_msu_ru_nsh_clunits", "ru", pitch=450, tempo=1.0),
    "ru-hi450-slow": Voice("festival", "voice_msu_ru_nsh_clunits", "ru", pitch=450, tempo=0.9),
    "ru-hi350-quick": Voice("festival", "voice_msu_ru_nsh_clunits", "ru", pitch=350, tempo=1.15),
    # English: festival's diphone voice and espeak-ng voices with variants and rates.
    "kal": Voice("festival", "voice_kal_diphone", "en"),
    "kal-hi": Voice("festival", "voice_kal_diphone", "en", pitch=350, tempo=1.05),
    "kal-low": Voice("festival", "voice_kal_diphone", "en", pitch=-120, tempo=0.95),
    "us-f3": Voice("espeak", "en-us+f3", "en", rate=160),
    "us-m3": Voice("espeak", "en-us+m3", "en", rate=155),
    "us-f2": Voice("espeak", "en-us+f2", "en", rate=165),
    "gb-m1": Voice("espeak", "en-gb+m1", "en", rate=150),
    "gb-f4": Voice("espeak", "en-gb+f4", "en", rate=160),
    "rp-m4": Voice("espeak", "en-gb-x-rp+m4", "en", rate=150),
    "scot-f1": Voice("espeak", "en-gb-scotland+f1", "en", rate=150),
}

NOISES = {
    # kind, level of the noise in dBFS (RMS), channels
    "none": None,
    "pink": ("pink", -52.0, ("agent", "customer")),
    "pink-loud": ("pink", -45.0, ("agent", "customer")),
    "brown": ("brown", -48.0, ("agent", "customer")),
    "babble": ("babble", -42.0, ("agent",)),
}

# Office babble behind the agent: lines written for it (not part of any call).
BABBLE = {
    "ru": [
        "Коллеги, кто сегодня на второй линии после обеда?",
        "Я перезвоню вам через пять минут, хорошо?",
        "Оформляю возврат, ожидайте смс с номером.",
        "Подскажите, пожалуйста, номер вашего договора.",
        "Соединяю вас со специалистом отдела продаж.",
        "У нас сегодня совещание в четыре часа.",
        "Заказ передан в службу доставки вчера вечером.",
        "Сейчас проверю статус платежа в системе.",
        "Карта будет готова через неделю в отделении.",
        "Спасибо за ожидание, я вернулась на линию.",
    ],
    "en": [
        "Can someone cover the queue after lunch?",
        "I'll call you back in five minutes, okay?",
        "Your refund has been issued today.",
        "Could you confirm the postcode on the account?",
        "I'm transferring you to our billing team now.",
        "The meeting has moved to four o'clock.",
        "Your parcel left the depot this morning.",
        "Let me check the payment status for you.",
        "The new card should arrive within a week.",
        "Thanks for holding, I'm back with you.",
    ],
}


class ScriptError(Exception):
    """A call script that does not validate; the message names the file and the field."""


# --------------------------------------------------------------------------
# Scripts
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class EventSpec:
    category: str
    text: str


@dataclass(frozen=True)
class LineSpec:
    speaker: str
    text: str
    tts: tuple[str, ...]
    gap: float | None
    at: float | None
    overlap: float | None
    inside: float | None
    gain_db: float
    tempo: float
    events: tuple[EventSpec, ...]


@dataclass
class CallSpec:
    id: str
    path: Path
    language: str
    domain: str
    about: str
    voices: dict[str, str]
    noise: str
    levels: dict[str, float]
    call: dict[str, bool]
    lines: list[LineSpec]
    start: float = 0.5
    gap: float = 0.6
    tail: float = 0.6
    digest: str = ""


def tts_text(text: str) -> str:
    """What a TTS engine is fed when the script gives no `tts`: no quotes or dashes it would read."""
    for a, b in (("«", ""), ("»", ""), ("\"", ""), ("—", ","), ("–", ","), ("…", ".")):
        text = text.replace(a, b)
    return " ".join(text.split())


def _num(path: Path, where: str, value: Any, lo: float, hi: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
        raise ScriptError(f"{path}: {where} must be a number from {lo} to {hi}, got {value!r}")
    return float(value)


def parse_line(path: Path, i: int, raw: Any, language: str) -> LineSpec:
    where = f"lines[{i}]"
    if not isinstance(raw, dict):
        raise ScriptError(f"{path}: {where} must be a mapping with 'A' or 'C'")
    speakers = [k for k in ("A", "C") if k in raw]
    if len(speakers) != 1 or not isinstance(raw[speakers[0]], str) or not raw[speakers[0]].strip():
        raise ScriptError(f"{path}: {where} needs exactly one of 'A' (agent) or 'C' (customer) with text")
    known = {"A", "C", "tts", "gap", "at", "overlap", "inside", "gain", "tempo", "ev"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ScriptError(f"{path}: {where}: unknown key '{unknown[0]}' (known: {', '.join(sorted(known))})")
    speaker = "agent" if speakers[0] == "A" else "customer"
    text = raw[speakers[0]].strip()
    tts_raw = raw.get("tts")
    if tts_raw is None:
        tts = (tts_text(text),)
    elif isinstance(tts_raw, str):
        tts = tuple(c.strip() for c in tts_raw.split("|") if c.strip())
    else:
        raise ScriptError(f"{path}: {where}.tts must be text (chunks separated by '|')")
    placements = [k for k in ("gap", "at", "overlap", "inside") if k in raw]
    if len(placements) > 1:
        raise ScriptError(f"{path}: {where}: give only one of gap, at, overlap, inside")
    events = []
    for j, ev in enumerate(raw.get("ev") or []):
        if isinstance(ev, str):
            category, ev_text = ev, text
        elif isinstance(ev, dict) and isinstance(ev.get("category"), str):
            category, ev_text = ev["category"], str(ev.get("text") or text)
            extra = sorted(str(k) for k in set(ev) - {"category", "text"})
            if extra:  # `{category: x, text: a, b}`: YAML cut the text at the comma, "b" became a key
                raise ScriptError(f"{path}: {where}.ev[{j}]: unknown key '{extra[0]}' (a text with a "
                                  f"comma must be quoted)")
        else:
            raise ScriptError(f"{path}: {where}.ev[{j}] must be a category or {{category, text}}")
        if category not in LINE_CATEGORIES:
            raise ScriptError(f"{path}: {where}.ev[{j}]: '{category}' is not a line-level category "
                              f"({', '.join(LINE_CATEGORIES)})")
        if speaker != "agent" and category != "long_silence":
            raise ScriptError(f"{path}: {where}.ev[{j}]: findings are the agent's; this is a customer line")
        if category == "interruption" and "overlap" not in raw:
            raise ScriptError(f"{path}: {where}.ev[{j}]: an interruption line needs 'overlap'")
        if category == "long_silence" and not ("gap" in raw and raw["gap"] >= 6):
            raise ScriptError(f"{path}: {where}.ev[{j}]: long_silence needs 'gap' of 6 s or more before it")
        events.append(EventSpec(category, ev_text))
    return LineSpec(
        speaker=speaker,
        text=text,
        tts=tts,
        gap=_num(path, f"{where}.gap", raw["gap"], 0, 30) if "gap" in raw else None,
        at=_num(path, f"{where}.at", raw["at"], 0, 600) if "at" in raw else None,
        overlap=_num(path, f"{where}.overlap", raw["overlap"], 0, 10) if "overlap" in raw else None,
        inside=_num(path, f"{where}.inside", raw["inside"], 0, 1) if "inside" in raw else None,
        gain_db=_num(path, f"{where}.gain", raw.get("gain", 0), -20, 16),
        tempo=_num(path, f"{where}.tempo", raw.get("tempo", 1.0), 0.5, 2.5),
        events=tuple(events),
    )


def load_script(path: Path) -> CallSpec:
    """One call script, validated with errors that name the file and the field."""
    try:
        text = path.read_text(encoding="utf-8")
        data = yaml.safe_load(text)
    except (OSError, yaml.YAMLError) as exc:
        raise ScriptError(f"{path}: cannot read ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise ScriptError(f"{path}: expected a mapping")
    for key in ("id", "language", "domain", "about", "voices", "call", "lines"):
        if key not in data:
            raise ScriptError(f"{path}: '{key}' is missing")
    if data["id"] != path.stem:
        raise ScriptError(f"{path}: id '{data['id']}' must equal the file name '{path.stem}'")
    language = data["language"]
    voices = data["voices"]
    if not isinstance(voices, dict) or set(voices) != {"agent", "customer"}:
        raise ScriptError(f"{path}: voices needs agent and customer")
    for who, name in voices.items():
        if name not in VOICES:
            raise ScriptError(f"{path}: voices.{who}: unknown voice '{name}' (known: {', '.join(VOICES)})")
        if VOICES[name].language != language:
            raise ScriptError(f"{path}: voices.{who}: '{name}' is a {VOICES[name].language} voice")
    noise = data.get("noise", "none")
    if noise not in NOISES:
        raise ScriptError(f"{path}: noise: unknown '{noise}' (known: {', '.join(NOISES)})")
    call = data["call"]
    if not isinstance(call, dict) or set(call) != set(CALL_CATEGORIES) or not all(
        isinstance(v, bool) for v in call.values()
    ):
        raise ScriptError(f"{path}: call must give true/false for each of {', '.join(CALL_CATEGORIES)}")
    levels = {"agent": TARGET_RMS_DBFS, "customer": TARGET_RMS_DBFS}
    for who, value in (data.get("levels") or {}).items():
        if who not in levels:
            raise ScriptError(f"{path}: levels.{who}: agent or customer")
        levels[who] = _num(path, f"levels.{who}", value, -45, -15)
    if not isinstance(data["lines"], list) or len(data["lines"]) < 2:
        raise ScriptError(f"{path}: lines must be a list of at least two lines")
    lines = [parse_line(path, i, raw, language) for i, raw in enumerate(data["lines"])]
    for i, line in enumerate(lines):
        if (line.overlap is not None or line.inside is not None) and i == 0:
            raise ScriptError(f"{path}: lines[0] cannot overlap a previous line")
        if any(e.category == "interruption" for e in line.events) and lines[i - 1].speaker != "customer":
            raise ScriptError(f"{path}: lines[{i}]: an interruption must overlap a customer line")
    spec = CallSpec(
        id=data["id"], path=path, language=language, domain=str(data["domain"]), about=str(data["about"]),
        voices=dict(voices), noise=noise, levels=levels, call=dict(call), lines=lines,
        start=_num(path, "start", data.get("start", 0.5), 0, 30),
        gap=_num(path, "gap", data.get("gap", 0.6), 0, 5),
        tail=_num(path, "tail", data.get("tail", 0.6), 0, 30),
    )
    spec.digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return spec


def load_scripts(folder: Path = SCRIPTS, only: list[str] | None = None) -> list[CallSpec]:
    paths = sorted(folder.glob("*.yaml"))
    if not paths:
        raise ScriptError(f"{folder}: no call scripts (*.yaml)")
    specs = [load_script(p) for p in paths]
    if only:
        missing = sorted(set(only) - {s.id for s in specs})
        if missing:
            raise ScriptError(f"{folder}: no script with id {missing[0]}")
        specs = [s for s in specs if s.id in only]
    return specs


# --------------------------------------------------------------------------
# Audio helpers
# --------------------------------------------------------------------------


def run(cmd: list[str], stdin: bytes | None = None) -> None:
    proc = subprocess.run(cmd, input=stdin, capture_output=True)
    if proc.returncode != 0:
        raise RuntimeError(f"command failed ({proc.returncode}): {' '.join(cmd)}\n"
                           f"{proc.stderr.decode('utf-8', 'replace')[-2000:]}")


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    """A 16-bit PCM or 32-bit float WAV as float64 mono samples, and its rate."""
    data = path.read_bytes()
    pos, fmt, pcm = 12, None, None
    while pos + 8 <= len(data):
        cid, size = data[pos:pos + 4], struct.unpack("<I", data[pos + 4:pos + 8])[0]
        body = data[pos + 8:pos + 8 + size]
        if cid == b"fmt ":
            tag, ch, rate = struct.unpack("<HHI", body[:8])
            bits = struct.unpack("<H", body[14:16])[0]
            if tag == 0xFFFE:  # WAVE_FORMAT_EXTENSIBLE: the real tag is in the GUID
                tag = struct.unpack("<H", body[24:26])[0]
            fmt = (tag, ch, rate, bits)
        elif cid == b"data":
            pcm = body
        pos += 8 + size + (size & 1)
    if fmt is None or pcm is None:
        raise RuntimeError(f"{path}: not a WAV file with fmt and data")
    tag, ch, rate, bits = fmt
    if tag == 1 and bits == 16:
        x = np.frombuffer(pcm[:len(pcm) // 2 * 2], dtype="<i2").astype(np.float64) / 32768.0
    elif tag == 3 and bits == 32:
        x = np.frombuffer(pcm[:len(pcm) // 4 * 4], dtype="<f4").astype(np.float64)
    else:
        raise RuntimeError(f"{path}: unsupported WAV format tag={tag} bits={bits}")
    if ch > 1:
        x = x[:len(x) // ch * ch].reshape(-1, ch).mean(axis=1)
    return x, rate


def write_float_wav(path: Path, x: np.ndarray, rate: int) -> None:
    """A mono 32-bit float WAV: the lossless hand-over to sox (the wave module writes PCM only)."""
    data = x.astype("<f4").tobytes()
    fmt = struct.pack("<HHIIHH", 3, 1, rate, rate * 4, 4, 32)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"data" + struct.pack("<I", len(data)) + data
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)


def write_pcm_wav(path: Path, channels: list[np.ndarray]) -> None:
    peak = max(float(np.max(np.abs(c))) for c in channels)
    if peak > 1.0:
        raise RuntimeError(f"{path.name}: would clip (peak {peak:.3f})")
    pcm = np.clip(np.round(np.stack(channels, axis=1) * 32767.0), -32768, 32767).astype("<i2")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with wave.open(str(tmp), "wb") as wf:
        wf.setnchannels(len(channels))
        wf.setsampwidth(2)
        wf.setframerate(SR)
        wf.writeframes(pcm.tobytes())
    tmp.replace(path)


def db(x: float) -> float:
    return 20.0 * float(np.log10(max(x, 1e-12)))


def frame_rms_db(x: np.ndarray, frame: int) -> np.ndarray:
    n = len(x) // frame
    if n == 0:
        return np.array([db(float(np.sqrt(np.mean(x ** 2)))) if len(x) else -240.0])
    f = x[:n * frame].reshape(n, frame)
    return 20.0 * np.log10(np.maximum(np.sqrt(np.mean(f ** 2, axis=1)), 1e-12))


def trim_silence(x: np.ndarray, rel_db: float = 40.0) -> np.ndarray:
    frame = 10 * MS
    levels = frame_rms_db(x, frame)
    active = np.nonzero(levels > levels.max() - rel_db)[0]
    return x if len(active) == 0 else x[active[0] * frame:(active[-1] + 1) * frame]


def speech_rms_db(x: np.ndarray) -> float:
    levels = frame_rms_db(x, 20 * MS)
    speech = levels[levels > levels.max() - 30.0]
    return 10.0 * float(np.log10(np.mean(10.0 ** (speech / 10.0))))


def normalise(x: np.ndarray, target_dbfs: float, gain_db: float) -> np.ndarray:
    """Speech RMS to `target_dbfs`, peak capped so that `gain_db` on top of it still cannot clip."""
    x = x - float(np.mean(x))
    gain = target_dbfs - speech_rms_db(x)
    ceiling = min(PEAK_CEILING_DBFS, CLIP_CEILING_DBFS - gain_db)
    gain = min(gain, ceiling - db(float(np.max(np.abs(x)))))
    return x * 10.0 ** ((gain + gain_db) / 20.0)


def ms_samples(seconds: float) -> int:
    return int(round(seconds * 1000.0)) * MS


# --------------------------------------------------------------------------
# TTS
# --------------------------------------------------------------------------


def chunk_key(voice: Voice, text: str) -> str:
    raw = json.dumps([voice.engine, voice.name, voice.rate, text], ensure_ascii=False)
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()[:24]


def scheme_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


# Punctuation festival's Russian letter-to-sound rules have no rule for, standing alone (it stops the
# whole batch): said as the pause a comma after the word before makes.
FESTIVAL_PAUSES = re.compile(r"\s*[—–…;()]+\s*")


def festival_text(text: str) -> str:
    """The chunk as festival can read it: "Да — сейчас" and "Да , сейчас" -> "Да, сейчас"."""
    text = FESTIVAL_PAUSES.sub(", ", text)
    text = re.sub(r"\s+([,.!?:])", r"\1", text)
    text = re.sub(r"([,.!?:])[,]+", r"\1", text)
    return text.strip(" ,") or text


def festival_batch(voice_fn: str, items: list[tuple[str, Path]]) -> None:
    """Render many chunks in one festival process (loading a voice once takes seconds)."""
    with tempfile.NamedTemporaryFile("w", suffix=".scm", encoding="utf-8", delete=False) as fh:
        fh.write(f"({voice_fn})\n")
        fh.write("(define (say text fname) (utt.save.wave (utt.synth (eval (list 'Utterance 'Text text)))"
                 " fname 'riff))\n")
        for text, out in items:
            said = scheme_string(festival_text(text))
            fh.write(f"(say {said} {scheme_string(str(out) + '.part')})\n")
        script = fh.name
    try:
        run(["festival", "-b", script])
    finally:
        Path(script).unlink(missing_ok=True)
    for _, out in items:
        Path(str(out) + ".part").replace(out)


def espeak_one(voice: Voice, text: str, out: Path) -> None:
    args = ["espeak-ng", "-v", voice.name, "-w", str(out) + ".part"]
    if voice.rate:
        args += ["-s", str(voice.rate)]
    run(args + ["--", text])
    Path(str(out) + ".part").replace(out)


def synthesize(requests: dict[Path, tuple[Voice, str]], jobs: int) -> None:
    """Render every missing TTS chunk: festival in `jobs` batch processes per voice, espeak in threads."""
    todo = {p: r for p, r in requests.items() if not p.exists()}
    if not todo:
        return
    by_voice: dict[str, list[tuple[str, Path]]] = {}
    espeak: list[tuple[Voice, str, Path]] = []
    for path, (voice, text) in sorted(todo.items()):
        if voice.engine == "festival":
            by_voice.setdefault(voice.name, []).append((text, path))
        else:
            espeak.append((voice, text, path))
    batches = []
    for fn, items in by_voice.items():
        n = max(1, min(jobs, len(items) // 20 or 1))
        batches += [(fn, items[k::n]) for k in range(n)]
    print(f"  TTS: {len(todo)} chunk(s) to render ({sum(len(b) for _, b in batches)} festival, "
          f"{len(espeak)} espeak-ng)", flush=True)
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(festival_batch, fn, items) for fn, items in batches]
        futures += [pool.submit(espeak_one, v, t, p) for v, t, p in espeak]
        for f in futures:
            f.result()


# --------------------------------------------------------------------------
# Calls
# --------------------------------------------------------------------------


@dataclass
class Placed:
    line: LineSpec
    audio: np.ndarray
    start_sample: int
    level_dbfs: float

    @property
    def end_sample(self) -> int:
        return self.start_sample + len(self.audio)

    @property
    def start(self) -> float:
        return self.start_sample / SR

    @property
    def end(self) -> float:
        return self.end_sample / SR


@dataclass
class Renderer:
    """Turns scripts into audio, with a cache of TTS chunks and processed lines."""

    out: Path
    jobs: int = 2
    line_cache: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def tts_dir(self) -> Path:
        return self.out / "cache" / "tts"

    def chunk_path(self, voice: Voice, text: str) -> Path:
        return self.tts_dir / f"{chunk_key(voice, text)}.wav"

    def prepare(self, specs: list[CallSpec]) -> None:
        self.tts_dir.mkdir(parents=True, exist_ok=True)
        requests: dict[Path, tuple[Voice, str]] = {}
        for spec in specs:
            for line in spec.lines:
                voice = VOICES[spec.voices[line.speaker]]
                for chunk in line.tts:
                    requests[self.chunk_path(voice, chunk)] = (voice, chunk)
            if NOISES[spec.noise] and NOISES[spec.noise][0] == "babble":
                voice = VOICES["ru-m" if spec.language == "ru" else "us-m3"]
                for text in BABBLE[spec.language]:
                    requests[self.chunk_path(voice, text)] = (voice, text)
        synthesize(requests, self.jobs)

    def render_line(self, voice: Voice, chunks: tuple[str, ...], tempo: float, target: float,
                    gain_db: float) -> np.ndarray:
        """One line: chunks joined, pitch/tempo/rate by sox, trimmed, normalised, gain applied."""
        key = json.dumps([voice.engine, voice.name, voice.rate, voice.pitch, voice.tempo, chunks, tempo,
                          target, gain_db], ensure_ascii=False)
        if key in self.line_cache:
            return self.line_cache[key]
        parts, rate = [], None
        for chunk in chunks:
            x, r = read_wav(self.chunk_path(voice, chunk))
            if rate not in (None, r):
                raise RuntimeError("chunks of one line came out at different rates")
            rate = r
            if parts:
                parts.append(np.zeros(int(CHUNK_PAUSE_S * r)))
            parts.append(trim_silence(x))
        assert rate is not None
        with tempfile.TemporaryDirectory(prefix="coach-corpus-") as tmp:
            src, dst = Path(tmp) / "in.wav", Path(tmp) / "out.wav"
            write_float_wav(src, np.concatenate(parts), rate)
            effects: list[str] = []
            if voice.pitch:
                effects += ["pitch", str(voice.pitch)]
            total_tempo = round(voice.tempo * tempo, 4)
            if total_tempo != 1.0:
                effects += ["tempo", "-s", str(total_tempo)]
            effects += ["rate", "-v", str(SR)]
            run(["sox", "-D", str(src), "-e", "floating-point", "-b", "32", str(dst), *effects])
            x, r = read_wav(dst)
        x = normalise(trim_silence(x), target, gain_db)
        x = np.concatenate([x, np.zeros((-len(x)) % MS)])
        self.line_cache[key] = x
        return x

    def place(self, spec: CallSpec) -> list[Placed]:
        placed: list[Placed] = []
        latest_end = ms_samples(spec.start - spec.gap)
        for i, line in enumerate(spec.lines):
            voice = VOICES[spec.voices[line.speaker]]
            audio = self.render_line(voice, line.tts, line.tempo, spec.levels[line.speaker], line.gain_db)
            if line.at is not None:
                start = ms_samples(line.at)
            elif line.overlap is not None:
                start = placed[-1].end_sample - ms_samples(line.overlap)
            elif line.inside is not None:
                prev = placed[-1]
                start = prev.start_sample + ms_samples(line.inside * (prev.end - prev.start))
            elif i == 0:
                start = ms_samples(spec.start)
            else:
                start = latest_end + ms_samples(spec.gap if line.gap is None else line.gap)
            level = speech_rms_db(audio)
            placed.append(Placed(line, audio, max(0, start), round(level, 1)))
            latest_end = max(latest_end, placed[-1].end_sample)
        return placed

    def noise(self, spec: CallSpec, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """Background noise per channel, seeded by the call id."""
        preset = NOISES[spec.noise]
        if preset is None:
            return {}
        kind, level, channels = preset
        out = {}
        for who in channels:
            if kind == "babble":
                x = self.babble(spec.language, n, rng) + coloured_noise("pink", n, rng) * 10 ** (-14 / 20)
            else:
                x = coloured_noise(kind, n, rng)
            rms = float(np.sqrt(np.mean(x ** 2)))
            out[who] = x * (10 ** (level / 20) / rms)
        return out

    def babble(self, language: str, n: int, rng: np.random.Generator) -> np.ndarray:
        voice = VOICES["ru-m" if language == "ru" else "us-m3"]
        clips = [self.render_line(voice, (t,), 1.0, TARGET_RMS_DBFS, 0.0) for t in BABBLE[language]]
        mix = np.zeros(n)
        for stream in range(3):
            pos = int(rng.integers(0, SR * 2))
            while pos < n:
                clip = clips[int(rng.integers(0, len(clips)))]
                if stream:  # a different "colleague": cheap resample changes pitch and rate
                    factor = 1.0 + 0.12 * stream
                    idx = np.arange(0, len(clip) - 1, factor)
                    clip = np.interp(idx, np.arange(len(clip)), clip)
                end = min(n, pos + len(clip))
                mix[pos:end] += clip[:end - pos]
                pos = end + int(rng.integers(SR // 4, SR * 2))
        return mix


def coloured_noise(kind: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """Pink (1/f) or brown (1/f^2) noise by shaping white noise in the frequency domain."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1 / SR)
    f[0] = f[1]
    f = np.maximum(f, 20.0)  # nothing below 20 Hz: a line does not carry it
    spectrum /= np.sqrt(f) if kind == "pink" else f
    return np.fft.irfft(spectrum, n)


def truth_events(spec: CallSpec, placed: list[Placed]) -> list[dict[str, Any]]:
    events = []
    latest_end = 0
    for i, p in enumerate(placed):
        for ev in p.line.events:
            start, end = p.start, p.end
            if ev.category == "interruption":
                end = min(p.end_sample, placed[i - 1].end_sample) / SR
            elif ev.category == "long_silence":
                start, end = latest_end / SR, p.start
            if ev.category == "filler_words" and events and events[-1].get("_line") == i \
                    and events[-1]["category"] == "filler_words":
                events[-1]["text"] += ", " + ev.text  # one event per filler episode (docs/eval.md)
                continue
            events.append({"category": ev.category, "speaker": "agent", "start": round(start, 3),
                           "end": round(end, 3), "text": ev.text if ev.category != "long_silence" else "",
                           "_line": i})
        latest_end = max(latest_end, p.end_sample)
    for event in events:
        del event["_line"]
    return events


def truth_doc(spec: CallSpec, placed: list[Placed], duration: float) -> dict[str, Any]:
    agent, customer = VOICES[spec.voices["agent"]], VOICES[spec.voices["customer"]]
    lines = []
    for p in placed:
        entry: dict[str, Any] = {"speaker": p.line.speaker, "start": round(p.start, 3),
                                 "end": round(p.end, 3), "text": p.line.text}
        if p.line.tts != (tts_text(p.line.text),):
            entry["tts"] = " | ".join(p.line.tts)
        if p.line.gain_db:
            entry["gain_db"] = p.line.gain_db
        if p.line.tempo != 1.0:
            entry["tempo"] = p.line.tempo
        entry["level_dbfs"] = p.level_dbfs
        lines.append(entry)
    return {
        "audio": f"{spec.id}.wav",
        "language": spec.language,
        "about": spec.about,
        "tags": {
            "domain": spec.domain,
            "noise": spec.noise,
            "tts": "+".join(sorted({agent.engine, customer.engine})),
            "agent_voice": spec.voices["agent"],
            "customer_voice": spec.voices["customer"],
        },
        "call": spec.call,
        "events": truth_events(spec, placed),
        "duration_s": round(duration, 3),
        "script": script_label(spec.path),
        "lines": lines,
    }


def script_label(path: Path) -> str:
    """The script's path as the truth file records it: repository-relative when
    the script is in the repository (stable across checkouts), else absolute, so
    that a QA lead's own scripts folder anywhere on disk renders too."""
    resolved = path.resolve()
    if resolved.is_relative_to(REPO.resolve()):
        return resolved.relative_to(REPO.resolve()).as_posix()
    return resolved.as_posix()


def write_variants(stereo: Path, out: Path, call_id: str, variants: tuple[str, ...]) -> None:
    for variant in variants:
        if variant == "stereo16k":
            continue
        dst = out / variant / f"{call_id}.wav"
        dst.parent.mkdir(parents=True, exist_ok=True)
        band = "highpass=f=300:poles=2,highpass=f=300:poles=2,lowpass=f=3400:poles=2,lowpass=f=3400:poles=2"
        if variant == "tel8k":
            af = band
            extra = ["-ac", "2"]
        else:  # mono8k: one channel, both speakers, as a mono recorder hears them
            af = "pan=mono|c0=0.7*c0+0.7*c1," + band
            extra = ["-ac", "1"]
        tmp = dst.with_suffix(".tmp.wav")
        run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(stereo), "-af", af, *extra,
             "-ar", "8000", "-c:a", "pcm_mulaw", *BITEXACT, str(tmp)])
        tmp.replace(dst)


def render_call(spec: CallSpec, renderer: Renderer, variants: tuple[str, ...]) -> dict[str, Any]:
    placed = renderer.place(spec)
    n = max(p.end_sample for p in placed) + ms_samples(spec.tail)
    channels = {"agent": np.zeros(n), "customer": np.zeros(n)}
    for p in placed:
        channels[p.line.speaker][p.start_sample:p.end_sample] += p.audio
    seed = int.from_bytes(hashlib.sha256(spec.id.encode("utf-8")).digest()[:8], "little")
    for who, noise in renderer.noise(spec, n, np.random.default_rng(seed)).items():
        channels[who] += noise
    stereo = renderer.out / "stereo16k" / f"{spec.id}.wav"
    write_pcm_wav(stereo, [channels["agent"], channels["customer"]])
    write_variants(stereo, renderer.out, spec.id, variants)
    truth = truth_doc(spec, placed, n / SR)
    path = renderer.out / "truth" / f"{spec.id}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(truth, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return truth


def pace_problems(truth: dict[str, Any]) -> list[str]:
    """Agent lines whose rendered pace disagrees with their speech_rate label.

    A line is fast only by coach's documented norm for sustained speech
    (coach.analyzers.speech_rate.NORMS, set on real calls): a tempo factor says
    how much faster than the voice's own pace, not how fast that is. A line
    labelled fast that reads under the norm by its own script text over its own
    rendered time (pauses included, so this errs low), or that is too short to
    be sustained, is a wrong label, and an unlabelled line of sustained speech
    above the norm is a missing one.
    """
    from coach.analyzers.speech_rate import NORMS, SpeechRateOptions  # the venv, as bench/quality.py
    from coach.analyzers.words import syllables

    min_speech_s = SpeechRateOptions().min_window_s
    min_line_s = min_speech_s + 0.1  # a line's own pauses are not speech

    language = truth["language"]
    norm = NORMS[language]
    labelled = [e["start"] for e in truth["events"] if e["category"] == "speech_rate"]
    out = []
    for i, line in enumerate(truth["lines"]):
        if line["speaker"] != "agent":
            continue
        seconds = line["end"] - line["start"]
        pace = syllables(line["text"], language) / seconds if seconds > 0 else 0.0
        fast = any(abs(start - line["start"]) < 0.05 for start in labelled)
        if fast and pace < norm:
            out.append(f"line {i} is labelled speech_rate but reads {pace:.2f} syllables/s, "
                       f"under the {language} norm {norm} (raise its tempo)")
        elif fast and seconds < min_line_s:
            out.append(f"line {i} is labelled speech_rate but lasts {seconds:.1f} s: a burst, not "
                       f"sustained speech (coach judges {min_speech_s} s of speech or more; lengthen it)")
        elif not fast and pace > norm and seconds >= min_line_s:
            out.append(f"line {i} reads {pace:.2f} syllables/s over {seconds:.1f} s, above the "
                       f"{language} norm {norm}, but is not labelled speech_rate")
    return out


# --------------------------------------------------------------------------
# Coverage (what --check prints)
# --------------------------------------------------------------------------


def coverage(specs: list[CallSpec]) -> dict[str, Any]:
    """Calls per language and positives/negatives per category, to see the corpus is balanced."""
    langs = Counter(s.language for s in specs)
    line_pos: Counter = Counter()
    line_calls: Counter = Counter()
    for s in specs:
        cats = Counter(e.category for line in s.lines for e in line.events)
        line_pos.update(cats)
        line_calls.update(set(cats))
    call_true = Counter(c for s in specs for c, v in s.call.items() if v)
    call_false = Counter(c for s in specs for c, v in s.call.items() if not v)
    return {
        "calls": len(specs),
        "languages": dict(langs),
        "line_events": {c: {"events": line_pos[c], "calls_with": line_calls[c],
                            "calls_without": len(specs) - line_calls[c]} for c in LINE_CATEGORIES},
        "call_level": {c: {"true": call_true[c], "false": call_false[c]} for c in CALL_CATEGORIES},
        "noise": dict(Counter(s.noise for s in specs)),
    }


def print_coverage(cov: dict[str, Any]) -> None:
    print(f"{cov['calls']} calls: " + ", ".join(f"{n} {k}" for k, n in sorted(cov["languages"].items()))
          + "; noise: " + ", ".join(f"{n} {k}" for k, n in sorted(cov["noise"].items())))
    for c, v in cov["line_events"].items():
        print(f"  {c:<18} {v['events']:3d} event(s) in {v['calls_with']:2d} call(s), "
              f"{v['calls_without']:2d} call(s) without")
    for c, v in cov["call_level"].items():
        print(f"  {c:<18} true in {v['true']:2d} call(s), false in {v['false']:2d}")


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------


def check_tools() -> None:
    need = {"festival": "festival festvox-ru festvox-kallpc16k", "espeak-ng": "espeak-ng", "sox": "sox",
            "ffmpeg": "ffmpeg"}
    missing = [f"{tool} (apt install {pkg})" for tool, pkg in need.items() if not shutil.which(tool)]
    if missing:
        raise SystemExit("make_corpus: missing tools: " + ", ".join(missing))


def generator_digest() -> str:
    return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()


def build(out: Path = DEFAULT_OUT, only: list[str] | None = None, variants: tuple[str, ...] = VARIANTS,
          jobs: int = 2, force: bool = False, quiet: bool = False, scripts: Path = SCRIPTS) -> list[str]:
    """Render the calls whose script, generator or variants changed; return the ids rendered."""
    specs = load_scripts(scripts.resolve(), only)
    check_tools()
    out.mkdir(parents=True, exist_ok=True)
    stamp_path = out / "stamps.json"
    stamps = json.loads(stamp_path.read_text()) if stamp_path.exists() else {}
    gen = generator_digest()

    def stamp(spec: CallSpec) -> str:
        return hashlib.sha256(f"{gen}:{spec.digest}:{','.join(variants)}".encode()).hexdigest()

    def complete(spec: CallSpec) -> bool:
        files = [out / "truth" / f"{spec.id}.json"] + [out / v / f"{spec.id}.wav" for v in variants]
        return all(f.exists() for f in files)

    todo = [s for s in specs if force or stamps.get(s.id) != stamp(s) or not complete(s)]
    if not todo:
        if not quiet:
            print(f"corpus up to date: {len(specs)} calls in {out}")
        return []
    print(f"rendering {len(todo)} of {len(specs)} call(s) into {out} ...", flush=True)
    renderer = Renderer(out, jobs=jobs)
    renderer.prepare(todo)
    for k, spec in enumerate(todo, 1):
        truth = render_call(spec, renderer, variants)
        stamps[spec.id] = stamp(spec)
        stamp_path.write_text(json.dumps(stamps, indent=1, sort_keys=True) + "\n")
        print(f"  [{k}/{len(todo)}] {spec.id}  {truth['duration_s']:.1f} s", flush=True)
        for problem in pace_problems(truth):
            print(f"  warning: {spec.id}: {problem}", flush=True)
    return [s.id for s in todo]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (default bench/.corpus)")
    parser.add_argument("--scripts", type=Path, default=SCRIPTS,
                        help="folder of call scripts (default bench/corpus/scripts; a second set, e.g. "
                             "bench/corpus/holdout, goes to its own --out)")
    parser.add_argument("--only", action="append", metavar="ID", help="render only this call (repeatable)")
    parser.add_argument("--variants", default=",".join(VARIANTS),
                        help=f"comma-separated, from {', '.join(VARIANTS)} (default: all)")
    parser.add_argument("--jobs", type=int, default=2, help="parallel TTS processes (default 2)")
    parser.add_argument("--force", action="store_true", help="re-render even if up to date")
    parser.add_argument("--check", action="store_true",
                        help="only validate the scripts and print the coverage per category")
    args = parser.parse_args(argv)
    variants = tuple(v for v in args.variants.split(",") if v)
    bad = [v for v in variants if v not in VARIANTS]
    if bad or "stereo16k" not in variants:
        print(f"make_corpus: --variants: {', '.join(bad) or 'stereo16k is required'} "
              f"(known: {', '.join(VARIANTS)})", file=sys.stderr)
        return 2
    try:
        if args.check:
            print_coverage(coverage(load_scripts(args.scripts, args.only)))
            return 0
        build(args.out, args.only, variants, max(1, args.jobs), args.force, scripts=args.scripts)
    except ScriptError as exc:
        print(f"make_corpus: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
