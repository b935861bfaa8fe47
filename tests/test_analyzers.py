"""Call analyzers: interruptions, raised voice, speech rate, dead air, metrics, plot.

Two layers. Synthetic numpy calls (fast) pin each mechanism and the
streaming == batch property on odd chunkings. The generated fixture calls
(tests/fixtures/calls, see manifest.json) are transcribed with the real
Whisper model through the product's own transcriber, and each analyzer must
find exactly what the manifest says: the transcripts are cached in the
pytest cache by file hash, so Whisper runs once per fixture version.
"""

from __future__ import annotations

import dataclasses
import json
import random
import wave
from pathlib import Path

import numpy as np
import pytest

from coach.analyzers import CATEGORIES, AnalyzerConfig, CallAnalyzers, analyze_call
from coach.analyzers.config import TEXT_FIELDS, default_path, load_analyzer_config, sections
from coach.analyzers.words import is_backchannel, spell_ru_number, syllables, utterance_words
from coach.contract import Event, Utterance, Word
from coach.errors import CoachError, RuleError

SR = 16000
CALLS = Path(__file__).resolve().parent / "fixtures" / "calls"


# -- helpers ---------------------------------------------------------------


def speech(duration: float, dbfs: float = -24.0, seed: int = 0) -> np.ndarray:
    """Speech-like noise: 4 Hz syllable modulation, speech RMS at `dbfs`."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(duration * SR)) / SR
    x = rng.standard_normal(t.size) * (0.6 + 0.4 * np.sin(2 * np.pi * 4 * t))
    return (x / np.sqrt(np.mean(x**2)) * 10 ** (dbfs / 20)).astype(np.float32)


def track(total: float, parts: list[tuple[float, float, float]]) -> np.ndarray:
    """A channel of `total` seconds with (start, duration, dBFS) speech parts."""
    out = np.zeros(int(total * SR), dtype=np.float32)
    for i, (start, duration, db) in enumerate(parts):
        seg = speech(duration, db, seed=i)
        k = int(start * SR)
        out[k : k + seg.size] += seg
    return out


def utt(speaker: str, words: list[tuple[str, float, float]]) -> Utterance:
    ws = [Word(t, s, e) for t, s, e in words]
    return Utterance(speaker, ws[0].start, ws[-1].end, " ".join(w.text for w in ws), ws)


def as_dicts(events: list[Event]) -> list[dict]:
    return sorted((e.to_dict() for e in events), key=lambda d: (d["start"], d["category"]))


def of(events: list[Event], category: str) -> list[Event]:
    return [e for e in events if e.category == category]


def stream(
    channels: dict[str, np.ndarray],
    utterances: list[Utterance],
    cfg: AnalyzerConfig,
    seed: int,
    max_chunk: int = 12000,
) -> tuple[list[Event], dict]:
    """Feed a call like a live session: random chunks, channels interleaved at
    random, each utterance arriving a random ASR delay after its end."""
    rng = random.Random(seed)
    an = CallAnalyzers(cfg, sample_rate=SR, speakers=tuple(channels))
    pos = dict.fromkeys(channels, 0)
    pending = sorted(utterances, key=lambda u: u.end)
    lag = rng.uniform(0.0, 2.5)
    events: list[Event] = []
    while any(pos[s] < x.size for s, x in channels.items()):
        s = rng.choice([s for s, x in channels.items() if pos[s] < x.size])
        n = rng.randint(1, max_chunk)
        events += an.feed_audio(s, channels[s][pos[s] : pos[s] + n], pos[s] / SR)
        pos[s] += n
        now = min(pos.values()) / SR
        while pending and pending[0].end + lag <= now:
            events += an.add_utterance(pending.pop(0))
    for u in pending:
        events += an.add_utterance(u)
    events += an.finish()
    return events, an.metrics()


def first_start(u: Utterance) -> float:
    return min([u.start] + [w.start for w in u.words])


def live_feed(
    channels: dict[str, np.ndarray],
    utterances: list[Utterance],
    cfg: AnalyzerConfig,
    *,
    words: str = "word",
    lag: float = 0.5,
    advance: bool = True,
    chunk_s: float = 0.1,
) -> tuple[list[tuple[Event, float]], dict]:
    """(event, stream time it was returned at) for a call fed as the live pipeline feeds it:
    audio in `chunk_s` chunks on every channel; a speaker's words final `lag` s after they
    end, one by one (`words="word"`) or a whole utterance at a time ("utterance", as the
    streaming transcriber closes them); after each chunk, `advance(t, [speaker])` with the
    time before which that speaker can produce no more final words."""
    an = CallAnalyzers(cfg, speakers=tuple(channels))
    queues: dict[str, list[Utterance]] = {s: [] for s in channels}
    for u in sorted(utterances, key=lambda u: (u.start, u.speaker)):
        if u.speaker not in channels:
            continue
        if words == "word" and u.words:
            queues[u.speaker] += [Utterance(u.speaker, w.start, w.end, w.text, [w]) for w in u.words]
        else:
            queues[u.speaker].append(u)
    n = max(x.size for x in channels.values())
    step = round(chunk_s * SR)
    out: list[tuple[Event, float]] = []
    for pos in range(0, n, step):
        now = min(pos + step, n) / SR
        for s, x in channels.items():
            out += [(e, now) for e in an.feed_audio(s, x[pos : pos + step], pos / SR)]
        for s, q in queues.items():
            while q and q[0].end + lag <= now:
                out += [(e, now) for e in an.add_utterance(q.pop(0))]
            if advance:  # no final word can still come that starts before this
                promise = min([now - lag] + [first_start(u) for u in q])
                out += [(e, now) for e in an.advance(promise, [s])]
    end = n / SR
    for q in queues.values():
        for u in q:
            out += [(e, end) for e in an.add_utterance(u)]
    out += [(e, end) for e in an.finish()]
    return out, an.metrics()


# -- synthetic calls ---------------------------------------------------------


@pytest.fixture(scope="module")
def cfg() -> AnalyzerConfig:
    return load_analyzer_config()


def dialogue() -> tuple[dict[str, np.ndarray], list[Utterance]]:
    """Agent interrupts at 9.0 (1.0 s overlap), shouts at 14.5, 6.4 s dead air at 21.6."""
    agent = track(30, [(0.5, 3, -24), (5, 2, -24), (9, 3, -24), (14.5, 2.5, -12), (18, 3, -24),
                       (28, 1.5, -24)])  # fmt: skip
    customer = track(30, [(3.8, 1, -24), (7, 3, -24), (12.6, 2, -24), (21.5, 0.1, -24)])
    utterances = [
        utt("agent", [("Здравствуйте", 0.5, 1.8), ("компания", 1.9, 3.5)]),
        utt("customer", [("да", 3.8, 4.8)]),
        utt("agent", [("подождите", 9.0, 10.0), ("я", 10.1, 10.3), ("проверю", 10.4, 12.0)]),
        utt("agent", [("хватит", 14.5, 15.5), ("уже", 15.6, 17.0)]),
    ]
    return {"agent": agent, "customer": customer}, utterances


def test_synthetic_dialogue_findings(cfg):
    channels, utterances = dialogue()
    events, metrics = analyze_call(channels, utterances, cfg)
    assert [e.category for e in events] == ["interruption", "raised_voice", "long_silence"]
    inter, loud, gap = events
    assert inter.start == pytest.approx(9.0, abs=0.05) and inter.end == pytest.approx(10.0, abs=0.1)
    assert inter.rule == "analyzer.interruption" and inter.speaker == "agent"
    assert inter.text == "подождите" and "1.0" in inter.message
    assert loud.start == pytest.approx(14.5, abs=0.1) and loud.details["db_above"] > 11
    assert loud.text == "хватит уже"
    assert (gap.start, gap.end) == pytest.approx((21.6, 28.0), abs=0.1)
    assert gap.details["silence_s"] == pytest.approx(6.4, abs=0.1)
    assert metrics["interruptions"] == 1 and metrics["interruptions_by_customer"] == 0
    assert metrics["total_silence_s"] == pytest.approx(6.4 + 1.0, abs=0.2)
    assert 0.6 < metrics["talk_ratio_agent"] < 0.8


@pytest.mark.parametrize("seed", range(6))
def test_synthetic_streaming_equals_batch(cfg, seed):
    channels, utterances = dialogue()
    batch, batch_metrics = analyze_call(channels, utterances, cfg)
    events, metrics = stream(channels, utterances, cfg, seed, max_chunk=[7, 500, 12000][seed % 3])
    assert as_dicts(events) == as_dicts(batch)
    assert metrics == batch_metrics


def test_input_order_does_not_matter(cfg):
    """Customer audio first, then agent; customer utterances before agent ones."""
    channels, utterances = dialogue()
    batch, batch_metrics = analyze_call(channels, utterances, cfg)
    an = CallAnalyzers(cfg)
    events = an.feed_audio("customer", channels["customer"], 0.0)
    events += an.feed_audio("agent", channels["agent"], 0.0)
    for u in sorted(utterances, key=lambda u: (u.speaker != "customer", u.start)):
        events += an.add_utterance(u)
    events += an.finish()
    assert as_dicts(events) == as_dicts(batch) and an.metrics() == batch_metrics


def test_short_overlap_and_backchannel_are_not_interruptions(cfg):
    customer = track(12, [(1, 6, -24)])
    short = track(12, [(3, 0.3, -24), (8, 2, -24)])  # 0.3 s "угу"
    events, metrics = analyze_call({"agent": short, "customer": customer}, [], cfg)
    assert not of(events, "interruption") and metrics["interruptions"] == 0
    # a 1 s overlap of nothing but listener tokens is listening, not interrupting
    long_bc = track(12, [(3, 1.0, -24), (8, 2, -24)])
    words = [utt("agent", [("ага,", 3.0, 3.4), ("ага-ага.", 3.5, 4.0)])]
    events, metrics = analyze_call({"agent": long_bc, "customer": customer}, words, cfg)
    assert not of(events, "interruption") and metrics["interruptions"] == 0
    # the same overlap with real words is an interruption
    words = [utt("agent", [("стоп,", 3.0, 3.4), ("подождите", 3.5, 4.0)])]
    events, _ = analyze_call({"agent": long_bc, "customer": customer}, words, cfg)
    assert len(of(events, "interruption")) == 1


def test_customer_interrupting_is_counted_not_reported(cfg):
    agent = track(10, [(1, 5, -24)])
    customer = track(10, [(3, 4, -24)])
    events, metrics = analyze_call({"agent": agent, "customer": customer}, [], cfg)
    assert not of(events, "interruption")
    assert metrics["interruptions"] == 0 and metrics["interruptions_by_customer"] == 1


def test_raised_voice_is_relative_to_the_agents_own_level(cfg):
    parts = [(0.5, 3, -24), (5, 3, -24), (9, 3, -24), (13, 3, -24)]
    hot = [(s, d, db + 12) for s, d, db in parts]
    events, _ = analyze_call({"agent": track(17, hot)}, [], cfg)
    assert not of(events, "raised_voice")  # a hot microphone is not shouting
    events, _ = analyze_call({"agent": track(17, parts[:3] + [(13, 3, -12)])}, [], cfg)
    assert len(of(events, "raised_voice")) == 1
    # nothing is judged before the baseline exists
    events, _ = analyze_call({"agent": track(17, [(0.5, 3, -12)] + parts[1:])}, [], cfg)
    assert not of(events, "raised_voice")


def test_leading_and_trailing_silence_are_not_dead_air(cfg):
    agent = track(30, [(8, 2, -24), (12, 2, -24)])
    events, metrics = analyze_call({"agent": agent, "customer": np.zeros_like(agent)}, [], cfg)
    assert not of(events, "long_silence")
    assert metrics["total_silence_s"] == pytest.approx(2.0, abs=0.1)


def test_speech_rate_from_words(cfg):
    # 12 two-syllable words in 2.0 s = 12 syllables/s; then normal speech
    fast = [("слово", 1.0 + i * 0.166, 1.0 + (i + 1) * 0.166) for i in range(12)]
    slow = [("слово", 5.0 + i * 0.5, 5.0 + (i + 1) * 0.5) for i in range(12)]
    utterances = [utt("agent", fast), utt("agent", slow)]
    events, metrics = analyze_call({"agent": np.zeros(12 * SR, np.float32)}, utterances, cfg)
    (rate,) = of(events, "speech_rate")
    assert (rate.start, rate.end) == pytest.approx((1.0, 3.0), abs=0.01)
    assert rate.details["syllables_per_s"] == pytest.approx(12.0, abs=0.1)
    assert "12.0" in rate.message and rate.severity == "info"
    assert metrics["agent_syllables_per_s"] == pytest.approx(48 / 8.0, abs=0.01)


def test_chunks_with_holes_and_repeats_equal_the_filled_signal(cfg):
    channels, _ = dialogue()
    agent = channels["agent"].copy()
    agent[5 * SR : 6 * SR] = 0.0
    whole, _ = analyze_call({"agent": agent}, [], cfg)
    an = CallAnalyzers(cfg, speakers=("agent",))
    events = an.feed_audio("agent", agent[: 5 * SR], 0.0)
    events += an.feed_audio("agent", agent[6 * SR - 800 : 8 * SR], 6.0 - 800 / SR)  # hole
    events += an.feed_audio("agent", agent[7 * SR :], 7.0)  # 1 s repeated
    events += an.finish()
    assert as_dicts(events) == as_dicts(whole)


def test_mono_runs_agent_side_only(cfg):
    channels, utterances = dialogue()
    an = CallAnalyzers(cfg, speakers=("agent",))
    assert "interruption" in an.skipped and "mono" in an.skipped["interruption"]
    events, metrics = analyze_call({"agent": channels["agent"]}, utterances, cfg)
    assert not of(events, "interruption") and of(events, "raised_voice")
    assert metrics["interruptions"] is None and metrics["talk_ratio_agent"] is None
    assert all(v is None or isinstance(v, (int, float)) for v in metrics.values())
    with pytest.raises(CoachError, match="customer"):
        an.feed_audio("customer", channels["customer"], 0.0)


def test_english_messages_and_bad_input(cfg):
    channels, utterances = dialogue()
    events, _ = analyze_call(channels, utterances, cfg, language="en")
    assert events[0].message == "You talked over the customer for 1.0 s"
    an = CallAnalyzers(cfg)
    with pytest.raises(CoachError, match="mono samples"):
        an.feed_audio("agent", np.zeros((10, 2), np.float32), 0.0)
    an.finish()
    with pytest.raises(CoachError, match="finished"):
        an.feed_audio("agent", np.zeros(10, np.float32), 0.0)


def test_activity_spans_are_what_the_analyzers_heard(cfg):
    channels, _ = dialogue()
    an = CallAnalyzers(cfg)
    for speaker, samples in channels.items():
        an.feed_audio(speaker, samples, 0.0)
    an.finish()
    spans = an.activity()
    flat = [t for span in spans["customer"] for t in span]
    assert flat == pytest.approx([3.8, 4.8, 7.0, 10.0, 12.6, 14.6, 21.5, 21.6], abs=0.05)
    assert spans["agent"][0] == pytest.approx([0.5, 3.5], abs=0.05)


def test_words_helpers():
    assert syllables("Здравствуйте,") == 3 and syllables("ещё") == 2
    assert spell_ru_number(500) == "пятьсот" and syllables("1000") == 3  # "тысяча"
    assert spell_ru_number(2024) == "два тысяча двадцать четыре"
    bc = frozenset(AnalyzerConfig().interruption.backchannels)
    words = utterance_words(Utterance("agent", 0, 1, "Угу, ага-ага. Mm-hm"))
    assert is_backchannel(words, bc)
    assert not is_backchannel(utterance_words(Utterance("agent", 0, 1, "да, но")), bc)
    assert not is_backchannel([], bc)


# -- configuration -------------------------------------------------------------


def test_shipped_yaml_equals_the_defaults():
    """Every threshold in the shipped file is its dataclass default (texts live in YAML only)."""
    shipped = load_analyzer_config()
    assert shipped.sources == (str(default_path()),)
    defaults = AnalyzerConfig()
    for section in sections():
        a, b = getattr(shipped, section), getattr(defaults, section)
        for f in dataclasses.fields(a):
            if f.name not in TEXT_FIELDS:
                assert getattr(a, f.name) == getattr(b, f.name), f"{section}.{f.name}"
    assert shipped.language == defaults.language


def test_company_override_wins_key_by_key(tmp_path):
    over = tmp_path / "analyzers.yaml"
    over.write_text(
        "raised_voice:\n  threshold_db: 10\n  message: {ru: 'Громко: +{db_above:.0f} дБ'}\n"
        "long_silence: {enabled: false}\n",
        encoding="utf-8",
    )
    cfg = load_analyzer_config([over])
    assert cfg.raised_voice.threshold_db == 10.0 and cfg.raised_voice.block_s == 1.0
    assert cfg.raised_voice.message["ru"] == "Громко: +{db_above:.0f} дБ"
    assert cfg.raised_voice.message["en"].startswith("Raised voice")
    assert CallAnalyzers(cfg).skipped["long_silence"].startswith("disabled")
    assert cfg.sources[-1] == str(over)


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("raised_voice: {threshhold_db: 10}\n", "raised_voice.threshhold_db: unknown field"),
        ("loudness: {}\n", "loudness: unknown section"),
        ("speech_rate: {window_s: fast}\n", "speech_rate.window_s: expected a number"),
        ("speech_rate: {window_s: 0}\n", "speech_rate.window_s: must be positive"),
        ("speech_rate: {min_syllables: 7.5}\n", "speech_rate.min_syllables: expected a whole"),
        ("interruption: {severity: high}\n", "interruption.severity: expected one of"),
        ("interruption: {enabled: 1}\n", "interruption.enabled: expected true or false"),
        ("interruption: {backchannels: [угу, yes]}\n", "interruption.backchannels[1]"),
        ("long_silence: {message: {ru: 'Тишина {gap}'}}\n", "long_silence.message.ru: bad"),
        ("long_silence: {message: {de: 'Stille'}}\n", "long_silence.message.de"),
        ("language: fr\n", "language: expected one of"),
        ("version: 2\n", "version: only version 1"),
        ("- a list\n", "expected a mapping"),
        ("raised_voice: [1\n", "not valid YAML"),
    ],
)
def test_bad_config_names_file_and_field(tmp_path, text, field):
    path = tmp_path / "company.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(RuleError) as err:
        load_analyzer_config([path])
    assert str(path) in str(err.value) and field in str(err.value)


def test_missing_override_file_is_an_error(tmp_path):
    with pytest.raises(RuleError, match="cannot read"):
        load_analyzer_config([tmp_path / "nope.yaml"])


# -- plot ------------------------------------------------------------------------


def result_dict(cfg: AnalyzerConfig) -> dict:
    channels, utterances = dialogue()
    events, metrics = analyze_call(channels, utterances, cfg)
    an = CallAnalyzers(cfg)
    for speaker, samples in channels.items():
        an.feed_audio(speaker, samples, 0.0)
    an.finish()
    call_level = {"category": "name_not_asked", "rule": "ru.name", "speaker": "agent",
                  "start": None, "end": None, "severity": "major", "text": "",
                  "message": "Имя клиента не спрошено", "suggestion": ""}  # fmt: skip
    return {
        "call": "calls/synthetic.wav",
        "duration_s": 30.0,
        "language": "ru",
        "transcript": [u.to_dict() for u in utterances],
        "events": [e.to_dict() for e in events] + [call_level],
        "metrics": metrics,
        "score": {"total": 70},
        "activity": an.activity(),
    }


def test_plot_command_writes_a_png(tmp_path, cfg):
    from coach.cli import main

    src = tmp_path / "call.json"
    src.write_text(json.dumps(result_dict(cfg), ensure_ascii=False), encoding="utf-8")
    out = tmp_path / "pics" / "call.png"
    assert main(["plot", str(src), "-o", str(out)]) == 0
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    assert main(["plot", str(src)]) == 0 and (tmp_path / "call.png").is_file()


def test_plot_rejects_what_is_not_a_result(tmp_path):
    from coach.cli import main

    bad = tmp_path / "bad.json"
    bad.write_text('{"transcript": [{"speaker": "agent"}]}', encoding="utf-8")
    assert main(["plot", str(bad)]) == 2
    assert main(["plot", str(tmp_path / "missing.json")]) == 2
    bad.write_text("not json", encoding="utf-8")
    assert main(["plot", str(bad)]) == 2
    bad.write_text('{"activity": {"agent": [[1, "x"]]}}', encoding="utf-8")
    assert main(["plot", str(bad)]) == 2


# -- the generated fixture calls, real Whisper ------------------------------------

FIXTURE_CALLS = [
    "interruption.wav",
    "backchannel.wav",
    "loud_line.wav",
    "loud_channel.wav",
    "fast_line.wav",
    "long_gap.wav",
    "clean_call.wav",
    "mono_call.wav",
]


def read_wav(path: Path) -> dict[str, np.ndarray]:
    with wave.open(str(path)) as w:
        assert w.getframerate() == SR and w.getsampwidth() == 2
        n = w.getnchannels()
        data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, n)
    names = ("agent", "customer")[:n]
    return {s: data[:, i].astype(np.float32) / 32768.0 for i, s in enumerate(names)}


@pytest.fixture(scope="session")
def transcribe(scorer):
    """transcribe('x.wav') -> (channels, utterances), with the product's own transcriber.

    Cached for the session only: a cache across runs would keep testing old
    transcripts after the transcriber changes.
    """
    cache: dict[str, list[Utterance]] = {}

    def get(name: str) -> tuple[dict[str, np.ndarray], list[Utterance]]:
        path = CALLS / name
        if not path.is_file():
            pytest.skip(f"fixture {name} not generated (tests/fixtures/make_fixtures.py)")
        channels = read_wav(path)
        if name not in cache:
            cache[name] = [
                u
                for speaker, samples in channels.items()
                for u in scorer.transcriber.transcribe(samples, speaker, "ru")
            ]
        return channels, sorted(cache[name], key=lambda u: (u.start, u.speaker))

    return get


@pytest.fixture(scope="session")
def fixture_manifest() -> dict:
    path = CALLS / "manifest.json"
    if not path.is_file():
        pytest.skip("fixture manifest not generated")
    return json.loads(path.read_text(encoding="utf-8"))["calls"]


@pytest.fixture(scope="session")
def analyzed(transcribe):
    cache: dict[str, tuple[list[Event], dict]] = {}

    def get(name: str) -> tuple[list[Event], dict]:
        if name not in cache:
            channels, utterances = transcribe(name)
            cache[name] = analyze_call(channels, utterances, load_analyzer_config())
        return cache[name]

    return get


def agent_line(manifest: dict, name: str, mark: str) -> dict:
    (line,) = [ln for ln in manifest[name]["lines"] if ln["speaker"] == "agent" and mark in ln]
    return line


@pytest.mark.slow
@pytest.mark.parametrize("name", FIXTURE_CALLS)
def test_fixture_findings_match_the_manifest(name, analyzed, fixture_manifest):
    """Each call has exactly the analyzer findings its manifest lists, no others."""
    events, _ = analyzed(name)
    expected = sorted(
        f["category"] for f in fixture_manifest[name]["findings"] if f["category"] in CATEGORIES
    )
    got = sorted(e.category for e in events if e.category in CATEGORIES)
    assert got == expected, [e.to_dict() for e in events]


@pytest.mark.slow
def test_fixture_interruption_at_the_overlap(analyzed, fixture_manifest):
    (event,) = of(analyzed("interruption.wav")[0], "interruption")
    line = agent_line(fixture_manifest, "interruption.wav", "interrupts_line")
    assert abs(event.start - line["start"]) <= 1.0
    assert event.details["overlap_s"] == pytest.approx(line["overlap_s"], abs=0.3)
    assert f"{event.details['overlap_s']:.1f}" in event.message
    assert analyzed("interruption.wav")[1]["interruptions"] == 1


@pytest.mark.slow
def test_fixture_backchannel_is_no_interruption(analyzed):
    events, metrics = analyzed("backchannel.wav")
    assert not of(events, "interruption") and metrics["interruptions"] == 0


@pytest.mark.slow
def test_fixture_raised_voice_on_the_loud_line_only(analyzed, fixture_manifest):
    (event,) = of(analyzed("loud_line.wav")[0], "raised_voice")
    line = agent_line(fixture_manifest, "loud_line.wav", "gain_db")
    assert abs(event.start - line["start"]) <= 1.0 and event.end <= line["end"] + 1.0
    assert event.details["db_above"] >= 8.0
    assert not of(analyzed("loud_channel.wav")[0], "raised_voice")


@pytest.mark.slow
def test_fixture_speech_rate_on_the_fast_line_only(analyzed, fixture_manifest):
    (event,) = of(analyzed("fast_line.wav")[0], "speech_rate")
    line = agent_line(fixture_manifest, "fast_line.wav", "tempo")
    assert line["start"] - 1.0 <= event.start and event.end <= line["end"] + 1.0
    assert event.details["syllables_per_s"] > event.details["threshold"]
    assert f"{event.details['syllables_per_s']:.1f}" in event.message
    for name in ("clean_call.wav", "loud_line.wav", "interruption.wav"):
        assert not of(analyzed(name)[0], "speech_rate"), name


@pytest.mark.slow
def test_fixture_long_gap(analyzed, fixture_manifest):
    (event,) = of(analyzed("long_gap.wav")[0], "long_silence")
    (gap,) = fixture_manifest["long_gap.wav"]["silences_over_2s"]
    assert event.start == pytest.approx(gap["start"], abs=1.0)
    assert event.end == pytest.approx(gap["end"], abs=1.0)
    assert event.details["silence_s"] == pytest.approx(gap["duration_s"], abs=0.5)


@pytest.mark.slow
def test_fixture_mono_call_skips_customer_analyzers(transcribe):
    channels, utterances = transcribe("mono_call.wav")
    assert list(channels) == ["agent"]
    an = CallAnalyzers(load_analyzer_config(), speakers=tuple(channels))
    assert set(an.skipped) >= {"interruption", "talk_ratio"}
    _, metrics = analyze_call(channels, utterances, load_analyzer_config())
    assert metrics["interruptions"] is None and metrics["agent_wpm"] > 0


@pytest.mark.slow
@pytest.mark.parametrize("name", FIXTURE_CALLS)
def test_fixture_streaming_equals_batch(name, transcribe, analyzed):
    channels, utterances = transcribe(name)
    batch, batch_metrics = analyzed(name)
    for seed in range(3):
        events, metrics = stream(channels, utterances, load_analyzer_config(), seed)
        assert as_dicts(events) == as_dicts(batch), seed
        assert metrics == batch_metrics, seed


@pytest.mark.slow
@pytest.mark.parametrize("name", FIXTURE_CALLS)
def test_fixture_live_feed_with_advance_equals_batch(name, transcribe, analyzed):
    """The live pipeline's feed (0.1 s chunks, words final 0.5 s after they end, advance()
    after every chunk) gives the batch findings and metrics, word by word or per utterance."""
    channels, utterances = transcribe(name)
    batch, batch_metrics = analyzed(name)
    for words in ("word", "utterance"):
        timed, metrics = live_feed(channels, utterances, load_analyzer_config(), words=words)
        assert as_dicts([e for e, _ in timed]) == as_dicts(batch), words
        assert metrics == batch_metrics, words


@pytest.mark.slow
@pytest.mark.parametrize("name", ["interruption.wav", "loud_line.wav"])
def test_fixture_word_bearing_findings_come_within_two_seconds(name, transcribe):
    """Raised voice and interruption are returned within 2 s of the span's end when words are
    final as they end; when only whole utterances are final (today's streaming transcriber),
    within 2 s of the later of the span's end and the close of the utterance it ended in."""
    channels, utterances = transcribe(name)
    lag = 0.5
    timed, _ = live_feed(channels, utterances, load_analyzer_config(), words="word", lag=lag)
    found = [(e, at) for e, at in timed if e.category in ("raised_voice", "interruption")]
    assert found and all(at - e.end <= 2.0 for e, at in found), [(e.to_dict(), at) for e, at in found]
    timed, _ = live_feed(channels, utterances, load_analyzer_config(), words="utterance", lag=lag)
    for e, at in timed:
        if e.category in ("raised_voice", "interruption"):
            holding = [u.end for u in utterances if u.speaker == e.speaker and u.start <= e.end]
            ready = max([e.end] + [end + lag for end in holding[-1:]])
            assert at - ready <= 2.0, (e.to_dict(), at, ready)
