"""Live behaviour of the call analyzers: the word watermark (`advance`), device gaps,
single-channel calls, confidence, the per-call cap and the overlay's live figures.

The feed below is what the live pipeline does: audio in 0.1 s chunks on both
channels, a speaker's words final `lag` seconds after they end (each word, or
each whole utterance as today's streaming transcriber closes them), and after
every chunk `advance(t, [speaker])` with the time before which that speaker
can produce no more final words. Findings must be the batch ones, and
interruption findings must come within 2 s of the span's end. A raised voice
is decided once the level has come back down (a level that stays up is a
gain change, not a raised voice: see raised_voice.py), so it must come within
2 s of the agent's next `confirm_s` of speech after the span.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from test_analyzers import SR, as_dicts, dialogue, first_start, live_feed, of, spoken, track, utt

from coach.analyzers import CallAnalyzers, analyze_call, load_analyzer_config
from coach.analyzers.config import AnalyzerConfig
from coach.contract import Event, Utterance
from coach.errors import CoachError

LATENCY_S = 2.0
WORD_BEARING = ("raised_voice", "interruption")


@pytest.fixture(scope="module")
def cfg() -> AnalyzerConfig:
    return load_analyzer_config()


def late_words_dialogue() -> tuple[dict[str, np.ndarray], list[Utterance]]:
    """The synthetic dialogue with Whisper-like word ends: the agent's last word of the
    interruption (9.0-9.8) and of the loud line (-16.8) end before the audio does
    (10.0, 17.0), so those utterances end before the spans they must explain."""
    channels, _ = dialogue()
    utterances = [
        utt("agent", [("Здравствуйте", 0.5, 1.8), ("компания", 1.9, 3.5)]),
        utt("customer", [("да", 3.8, 4.8)]),
        utt("customer", [("почему", 7.0, 7.8), ("так", 7.9, 8.6), ("дорого", 8.7, 10.0)]),
        utt("agent", [("подождите", 9.0, 9.8)]),
        utt("agent", [("я", 10.4, 10.6), ("проверю", 10.7, 12.0)]),
        utt("agent", [("хватит", 14.5, 15.5), ("уже", 15.6, 16.8)]),
        utt("agent", [("до", 28.0, 28.5), ("свидания", 28.6, 29.5)]),
    ]
    return channels, utterances


def latencies(timed: list[tuple[Event, float]]) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    for e, at in timed:
        out.setdefault(e.category, []).append(round(at - e.end, 2))
    return out


def confirmed_at(spans: list[list[float]], after: float, need: float) -> float:
    """When the agent has spoken `need` seconds after `after`: a raised voice is decided then."""
    for a, b in spans:
        if b <= after:
            continue
        a = max(a, after)
        if b - a >= need:
            return a + need
        need -= b - a
    return float("inf")


def agent_spans(channels: dict[str, np.ndarray]) -> list[list[float]]:
    an = CallAnalyzers(load_analyzer_config(), speakers=tuple(channels))
    for s, x in channels.items():
        an.feed_audio(s, x, 0.0)
    an.finish()
    return an.activity()["agent"]


# -- the watermark ---------------------------------------------------------------


@pytest.mark.parametrize("words", ["word", "utterance"])
def test_advance_decides_within_two_seconds_with_the_batch_findings(cfg, words):
    channels, utterances = late_words_dialogue()
    batch, batch_metrics = analyze_call(channels, utterances, cfg)
    assert [e.category for e in batch] == ["interruption", "raised_voice", "long_silence"]
    timed, metrics = live_feed(channels, utterances, cfg, words=words)
    assert as_dicts([e for e, _ in timed]) == as_dicts(batch) and metrics == batch_metrics
    late = latencies(timed)
    assert all(0 <= s <= LATENCY_S for s in late["interruption"]), late
    spans = agent_spans(channels)
    for e, at in timed:
        if e.category == "raised_voice":  # 14.5-17.0; the agent speaks again from 18.0
            ready = confirmed_at(spans, e.end, cfg.raised_voice.confirm_s)
            assert ready == pytest.approx(20.0, abs=0.1) and 0 <= at - ready <= LATENCY_S, (at, ready)


def test_without_advance_the_decision_waits_for_the_next_utterance(cfg):
    """What issue 13 measured: words ending before the span leave it undecided until the
    speaker's next utterance (or the end of the call); the same findings, late."""
    channels, utterances = late_words_dialogue()
    timed, _ = live_feed(channels, utterances, cfg, words="utterance", advance=False)
    late = latencies(timed)
    assert late["interruption"][0] > LATENCY_S  # waited for "я проверю" to close
    assert late["raised_voice"][0] > 10.0  # no later agent line before the goodbye


@pytest.mark.parametrize("seed", range(3))
def test_random_chunks_with_advance_equal_batch(cfg, seed):
    """advance() between random chunks and random ASR lags changes no finding or metric."""
    rng = np.random.default_rng(seed)
    channels, utterances = late_words_dialogue()
    batch, batch_metrics = analyze_call(channels, utterances, cfg)
    lag = float(rng.uniform(0.0, 2.5))
    timed, metrics = live_feed(channels, utterances, cfg, lag=lag, chunk_s=float(rng.uniform(0.02, 0.7)))
    assert as_dicts([e for e, _ in timed]) == as_dicts(batch) and metrics == batch_metrics


def test_speech_rate_at_the_end_of_a_turn_is_decided_by_the_watermark(cfg):
    """10 s at 10 syllables/s, then silence until "хорошо" at 28 s: the stretch has ended once no
    word can come within `join_gap_s` of its last one, which the watermark says within 2 s."""
    fast = [("слово", 1.0 + i * 0.2, 1.0 + (i + 1) * 0.2) for i in range(50)]
    channels = {"agent": np.zeros(30 * SR, np.float32)}
    utterances = [utt("agent", fast), utt("agent", [("хорошо", 28.0, 28.6)])]
    timed, _ = live_feed(channels, utterances, cfg, words="utterance")
    ((event, at),) = [(e, at) for e, at in timed if e.category == "speech_rate"]
    assert event.end == pytest.approx(11.0, abs=0.01) and at - event.end <= LATENCY_S
    timed, _ = live_feed(channels, utterances, cfg, words="utterance", advance=False)
    ((event, at),) = [(e, at) for e, at in timed if e.category == "speech_rate"]
    assert at > 28.0  # without it: when the next word came


def test_advance_rejects_unknown_speakers_and_a_finished_call(cfg):
    an = CallAnalyzers(cfg, speakers=("agent",))
    with pytest.raises(CoachError, match="customer"):
        an.advance(1.0, ["customer"])
    an.finish()
    with pytest.raises(CoachError, match="finished"):
        an.advance(2.0)


# -- device gaps and single-channel calls -------------------------------------------


def gap_call() -> dict[str, np.ndarray]:
    """Speech, then 11 s where the customer's device was gone (zeros), then speech."""
    agent = track(30, [(0.5, 3, -24), (18, 2, -24), (26, 2, -24)])
    customer = track(30, [(4, 1.5, -24), (20.5, 1, -24)])
    return {"agent": agent, "customer": customer}


def feed_with_gap(cfg: AnalyzerConfig, channels: dict[str, np.ndarray], gap: tuple[float, float] | None):
    an = CallAnalyzers(cfg)
    events: list[Event] = []
    step = SR // 10
    for pos in range(0, channels["agent"].size, step):
        t = pos / SR
        events += an.feed_audio("agent", channels["agent"][pos : pos + step], t)
        if gap and gap[0] <= t < gap[1]:
            if t == gap[0]:
                events += an.mark_gap("customer", *gap)
            continue
        events += an.feed_audio("customer", channels["customer"][pos : pos + step], t)
    events += an.finish()
    return events, an.metrics()


def test_no_dead_air_over_a_marked_device_gap(cfg):
    channels = gap_call()
    events, metrics = feed_with_gap(cfg, channels, None)  # zeros: silence, as the audio says
    (silence,) = of(events, "long_silence")
    assert (silence.start, silence.end) == pytest.approx((5.5, 18.0), abs=0.1)
    events, metrics = feed_with_gap(cfg, channels, (6.0, 17.0))
    assert not of(events, "long_silence"), [e.to_dict() for e in events]
    assert metrics["longest_silence_s"] < 6.0
    # Dead air after the device came back is dead air again: 21.5 .. 26.0 is 4.5 s; with a
    # 4 s threshold it is reported.
    four = load_analyzer_config()
    four = dataclasses.replace(
        four,
        analyzers={
            **four.analyzers,
            "long_silence": dataclasses.replace(
                four.long_silence, min_silence_s=4.0, confident_silence_s=8.0
            ),
        },
    )
    events, _ = feed_with_gap(four, channels, (6.0, 17.0))
    (after,) = of(events, "long_silence")
    assert (after.start, after.end) == pytest.approx((21.5, 26.0), abs=0.1)


def test_speech_is_not_bridged_over_a_gap(cfg):
    an = CallAnalyzers(cfg, speakers=("agent",))
    speechy = track(4, [(0.0, 4.0, -24)])
    an.feed_audio("agent", speechy[: 2 * SR], 0.0)
    an.mark_gap("agent", 2.0, 2.1)  # shorter than the 0.3 s hangover that bridges pauses
    an.feed_audio("agent", speechy[int(2.1 * SR) :], 2.1)
    an.finish()
    spans = an.activity()["agent"]
    assert len(spans) == 2 and spans[0][1] == pytest.approx(2.0, abs=0.03), spans
    with pytest.raises(CoachError, match="before it starts"):
        CallAnalyzers(cfg).mark_gap("agent", 3.0, 2.0)


def test_single_channel_skips_dead_air(cfg):
    """Agent-only live mode: silence on the agent's channel may be the customer talking."""
    agent = track(30, [(0.5, 3, -24), (18, 2, -24)])  # 14.5 s of 'silence' in between
    an = CallAnalyzers(cfg, speakers=("agent",))
    assert "customer" in an.skipped["long_silence"]
    events, metrics = analyze_call({"agent": agent}, [], cfg)
    assert not of(events, "long_silence")
    assert metrics["total_silence_s"] is None and metrics["longest_silence_s"] is None
    events, _ = analyze_call({"agent": agent, "customer": np.zeros_like(agent)}, [], cfg)
    assert len(of(events, "long_silence")) == 1  # with the customer's channel: real dead air


# -- confidence and the per-call cap -----------------------------------------------


def shouting_call(bursts: int, loud_db: float = -12.0) -> tuple[np.ndarray, list[Utterance]]:
    """The agent's voice (with its words) at -24 dBFS, and `bursts` 1.5 s shouts at `loud_db`."""
    parts = [(0.5, 8.0, -24)]
    for i in range(bursts):
        parts += [(10 + 6 * i, 1.5, loud_db), (12.5 + 6 * i, 3, -24)]
    return track(10 + 6 * bursts + 1, parts), spoken(parts)


def test_per_call_cap_lists_the_first_findings_and_counts_the_rest(cfg, tmp_path):
    agent, words = shouting_call(5)
    events, metrics = analyze_call({"agent": agent}, words, cfg)
    loud = of(events, "raised_voice")
    assert cfg.raised_voice.max_per_call == 3 and len(loud) == 3
    assert [e.start for e in loud] == pytest.approx([10, 16, 22], abs=0.1)
    assert metrics["raised_voice_beyond_cap"] == 2
    override = tmp_path / "analyzers.yaml"
    override.write_text("raised_voice: {max_per_call: 0}\n", encoding="utf-8")
    events, metrics = analyze_call({"agent": agent}, words, load_analyzer_config([override]))
    assert len(of(events, "raised_voice")) == 5 and metrics["raised_voice_beyond_cap"] == 0
    timed, live_metrics = live_feed({"agent": agent}, words, cfg)
    assert (
        len(of([e for e, _ in timed], "raised_voice")) == 3
        and live_metrics == analyze_call({"agent": agent}, words, cfg)[1]
    )


def test_confidence_grows_with_the_margin(cfg):
    def loud_confidence(db: float) -> float:
        agent, words = shouting_call(1, db)
        (event,) = of(analyze_call({"agent": agent}, words, cfg)[0], "raised_voice")
        return event.details["confidence"]

    lower, higher = loud_confidence(-13.0), loud_confidence(-9.0)  # +11 and +15 dB over -24
    assert 0.5 <= lower < higher <= 1.0
    assert higher == 1.0  # past confident_db (14 dB)
    channels, utterances = dialogue()
    for event in analyze_call(channels, utterances, cfg)[0]:
        assert 0.0 < event.details["confidence"] <= 1.0, event.to_dict()


def test_interruption_needs_the_agents_words(cfg):
    """Sound on the agent's channel that Whisper wrote no words for (office babble) talks over nobody."""
    customer = track(12, [(1, 6, -24)])
    agent = track(12, [(3, 2.0, -24), (8, 2, -24)])
    words = [utt("agent", [("стоп,", 3.0, 3.4), ("подождите", 3.5, 5.0)])]
    talking = [utt("customer", [("слово", 1.0 + 0.5 * i, 1.5 + 0.5 * i) for i in range(12)])]
    channels = {"agent": agent, "customer": customer}
    (heard,) = of(analyze_call(channels, words + talking, cfg)[0], "interruption")
    assert heard.details["confidence"] == 1.0
    assert not of(analyze_call(channels, talking, cfg)[0], "interruption")


# -- live figures --------------------------------------------------------------------


def test_live_figures_pace_talk_ratio_and_monologue(cfg):
    an = CallAnalyzers(cfg, speakers=("agent",))
    an.feed_audio("agent", np.zeros(40 * SR, np.float32), 0.0)
    figures = an.live_figures(5.0)
    assert figures["syllables_per_s"] is None and figures["max_syllables_per_s"] == 6.8
    an.add_utterance(utt("agent", [("слово", 20.0 + i * 0.25, 20.25 + i * 0.25) for i in range(10)]))
    an.add_utterance(utt("agent", [("слово", 25.0 + i * 0.25, 25.25 + i * 0.25) for i in range(5)]))
    figures = an.live_figures(30.0)  # 30 syllables in 2.5 + 1.25 s of speech; the pause is not speech
    assert figures["syllables_per_s"] == pytest.approx(8.0) and figures["wpm"] == 240
    assert an.live_figures(40.0, window_s=15.0)["syllables_per_s"] == pytest.approx(8.0)
    assert figures["talk_ratio_agent"] is None and figures["monologue_s"] is None

    channels, utterances = dialogue()
    an = CallAnalyzers(cfg)
    for speaker, samples in channels.items():
        an.feed_audio(speaker, samples[: 22 * SR], 0.0)
    # agent 14.5-17 and 18-21 is one monologue: a 1 s pause, and the customer's 0.1 s is a backchannel
    figures = an.live_figures(22.0)
    assert figures["monologue_s"] == pytest.approx(6.5, abs=0.1)
    for speaker, samples in channels.items():
        an.feed_audio(speaker, samples[22 * SR :], 22.0)
    figures = an.live_figures(30.0, window_s=10.0)  # agent 20-21 and 28-29.5, customer 21.5-21.6
    assert figures["talk_ratio_agent"] == pytest.approx(2.5 / 2.6, abs=0.02)
    assert figures["talk_ratio_agent_call"] == an.metrics()["talk_ratio_agent"]


# -- acoustic previews: cards while the agent is still talking ------------------------


def talks_on_call(
    shout_db: float = -12.0, after_db: float = -24.0
) -> tuple[dict[str, np.ndarray], list[Utterance]]:
    """The agent greets (0.5-8.5), then talks over the customer (9.0-12.0) from 10.0 and goes
    on without a pause until 22.0, at `shout_db` from 16.0 to 18.5 and `after_db` after it:
    one utterance, so its final words come only at 22.0."""
    agent = track(23, [(0.5, 8.0, -24), (10.0, 6.0, -24), (16.0, 2.5, shout_db), (18.5, 3.5, after_db)])
    customer = track(23, [(9.0, 3.0, -24)])
    utterances = spoken([(0.5, 8.0, -24)]) + [
        utt("customer", [("почему", 9.0, 10.0), ("так", 10.0, 11.0), ("дорого", 11.0, 12.0)]),
        utt("agent", [("слово", 10.0 + i * 0.5, 10.5 + i * 0.5) for i in range(24)]),
    ]
    return {"agent": agent, "customer": customer}, utterances


def feed_with_previews(channels, utterances, cfg, commit_lag: float = 1.0, lag: float = 0.5):
    """`live_feed` with words closing a whole utterance at a time, plus what the pipeline adds:
    after every chunk, `preview` on each speaker's committed words (a word is committed
    `commit_lag` s after it ends) of the utterance still open. Returns (finals, previews),
    each as (event, stream time); a preview is listed the first time it is seen."""
    an = CallAnalyzers(cfg, speakers=tuple(channels))
    queues = {s: sorted((u for u in utterances if u.speaker == s), key=lambda u: u.start) for s in channels}
    n = max(x.size for x in channels.values())
    step = round(0.1 * SR)
    finals: list[tuple[Event, float]] = []
    previews: dict[tuple[str, float], tuple[Event, float]] = {}
    for pos in range(0, n, step):
        now = min(pos + step, n) / SR
        for s, x in channels.items():
            finals += [(e, now) for e in an.feed_audio(s, x[pos : pos + step], pos / SR)]
        committed = {}
        for s, q in queues.items():
            while q and q[0].end + lag <= now:
                finals += [(e, now) for e in an.add_utterance(q.pop(0))]
            promise = min([now - lag] + [first_start(u) for u in q])
            finals += [(e, now) for e in an.advance(promise, [s])]
            if q and q[0].start <= now:
                words = [w for w in q[0].words if w.end + commit_lag <= now]
                if words:
                    committed[s] = Utterance(s, words[0].start, words[-1].end, "", words, final=False)
        for e in an.preview(committed):
            previews.setdefault((e.category, e.start), (e, now))
    for q in queues.values():
        for u in q:
            finals += [(e, n / SR) for e in an.add_utterance(u)]
    finals += [(e, n / SR) for e in an.finish()]
    return finals, list(previews.values()), an.metrics()


def test_previews_show_raised_voice_and_interruption_while_the_agent_talks_on(cfg):
    channels, utterances = talks_on_call()
    batch, batch_metrics = analyze_call(channels, utterances, cfg)
    assert sorted(e.category for e in batch) == ["interruption", "raised_voice"]
    finals, previews, metrics = feed_with_previews(channels, utterances, cfg)
    # previews change nothing: the call's findings and metrics are batch's, decided late
    assert as_dicts([e for e, _ in finals]) == as_dicts(batch) and metrics == batch_metrics
    assert all(at >= 22.0 for _, at in finals)  # when the agent's utterance closed
    assert sorted(e.category for e, _ in previews) == ["interruption", "raised_voice"]
    for e, at in previews:
        (final,) = of(batch, e.category)
        assert (e.start, e.speaker) == (final.start, final.speaker)
        assert 0 <= at - e.end <= LATENCY_S, (e.category, e.end, at)  # not 4-10 s later


def test_preview_of_a_raised_reply_comes_when_the_agent_stops(cfg):
    """A raised reply that ends the agent's turn: the customer answers, and the agent's next
    speech, which the result needs to see the level come down, starts 4 s later. The card
    comes once the agent has been silent `preview_pause_s`; the result still waits."""
    agent = track(22, [(0.5, 8.0, -24), (10.0, 2.5, -12), (16.5, 3.0, -24)])
    customer = track(22, [(13.0, 3.0, -24)])
    utterances = spoken([(0.5, 8.0, -24), (10.0, 2.5, -12), (16.5, 3.0, -24)]) + spoken(
        [(13.0, 3.0, -24)], "customer"
    )
    channels = {"agent": agent, "customer": customer}
    batch, _ = analyze_call(channels, utterances, cfg)
    (final,) = of(batch, "raised_voice")
    finals, previews, _ = feed_with_previews(channels, utterances, cfg)
    assert as_dicts([e for e, _ in finals]) == as_dicts(batch)
    ((decided, at_final),) = [(e, at) for e, at in finals if e.category == "raised_voice"]
    ((preview, at),) = [(e, at) for e, at in previews if e.category == "raised_voice"]
    assert preview.start == final.start
    assert at - preview.end <= LATENCY_S < at_final - decided.end, (at, at_final)


def test_no_preview_when_the_level_stays_up(cfg):
    """A gain change (the agent goes on 8 dB up: under the loud line, over the return line) is
    no raised voice: no finding, and no card either."""
    channels, utterances = talks_on_call(after_db=-16.0)
    assert not of(analyze_call(channels, utterances, cfg)[0], "raised_voice")
    _, previews, _ = feed_with_previews(channels, utterances, cfg)
    assert not [e for e, _ in previews if e.category == "raised_voice"]


def test_no_preview_past_the_per_call_cap(cfg, tmp_path):
    """Once the cap is reached a raised voice is no longer listed, so it is no card either."""
    override = tmp_path / "analyzers.yaml"
    override.write_text("raised_voice: {max_per_call: 1}\n", encoding="utf-8")
    capped = load_analyzer_config([override])
    agent, words = shouting_call(2)
    finals, previews, _ = feed_with_previews({"agent": agent}, words, cfg)
    shown = sorted(e.start for e, _ in previews if e.category == "raised_voice")
    assert shown == pytest.approx([10, 16], abs=0.1)
    finals, previews, _ = feed_with_previews({"agent": agent}, words, capped)
    assert [e.start for e, _ in finals if e.category == "raised_voice"] == pytest.approx([10], abs=0.1)
    assert all(e.start < 15 for e, _ in previews if e.category == "raised_voice")
