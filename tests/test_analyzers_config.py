"""The analyzer registry and the generic config loader: a new analyzer is one module and one
YAML section; texts in every declared language; COACH_RULES_DIR moves analyzers.yaml."""

from __future__ import annotations

import dataclasses
import shutil
import string
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from test_analyzers import dialogue, of, spoken, track

from coach.analyzers import (
    Analyzer,
    CallAnalyzers,
    Finding,
    FindingOptions,
    Frame,
    Needs,
    analyze_call,
    load_analyzer_config,
    opt,
    ramp,
    register,
    registered,
    unregister,
)
from coach.analyzers.base import field_docs
from coach.analyzers.config import default_path, sections, text_fields
from coach.analyzers.registry import names
from coach.contract import AGENT, Severity
from coach.errors import CoachError, RuleError

FIVE = ("ru", "en", "ro", "nb", "et")
ROOT = Path(__file__).resolve().parents[1]


# -- a toy analyzer, as a company would write one -------------------------------------


@dataclasses.dataclass(frozen=True)
class LongStretchOptions(FindingOptions):
    severity: str = opt("minor", "severity of the findings", choices=Severity.names())
    max_stretch_s: float = opt(4.0, "agent speech longer than this without a pause is a finding", gt=0)


class LongStretch(Analyzer):
    """The agent talks for more than `max_stretch_s` without a pause (from the agent's audio)."""

    name = "long_stretch"
    Options = LongStretchOptions
    needs = Needs(audio=(AGENT,))
    details_example = {"stretch_s": 5.0}
    metric_keys = ("longest_stretch_s",)

    def __init__(self, options: Any, ctx: Any) -> None:
        super().__init__(options, ctx)
        self.start: int | None = None
        self.longest = 0
        self.found: list[Finding] = []

    def step(self, frame: Frame) -> None:
        if frame.active[AGENT]:
            self.start = frame.index if self.start is None else self.start
        elif self.start is not None:
            self._close(frame.index)

    def finish(self) -> None:
        self.start = None  # a stretch cut by the end of the audio is not judged

    def _close(self, k: int) -> None:
        assert self.start is not None
        frames, self.start = k - self.start, None
        self.longest = max(self.longest, frames)
        seconds = frames * self.ctx.frame_s
        if seconds > self.options.max_stretch_s:
            conf = ramp(seconds, self.options.max_stretch_s, 2 * self.options.max_stretch_s)
            self.found.append(
                Finding(k * self.ctx.frame_s - seconds, k * self.ctx.frame_s, {"stretch_s": seconds}, conf)
            )

    def decide(self) -> list[Finding]:
        out, self.found = self.found, []
        return out

    def metrics(self) -> dict[str, Any]:
        return {"longest_stretch_s": round(self.longest * self.ctx.frame_s, 2)}


TOY_SECTION = """
long_stretch:
  max_stretch_s: 2.7
  message:
    ru: "Длинная фраза без паузы: {stretch_s:.1f} с"
    en: "Long stretch without a pause: {stretch_s:.1f} s"
    ro: "Frază lungă fără pauză: {stretch_s:.1f} s"
    nb: "Lang setning uten pause: {stretch_s:.1f} s"
    et: "Pikk lõik ilma pausita: {stretch_s:.1f} s"
  suggestion:
    ru: "Делайте паузы, чтобы клиент мог ответить"
    en: "Pause so the customer can answer"
    ro: "Faceți pauze ca clientul să poată răspunde"
    nb: "Ta pauser så kunden kan svare"
    et: "Tehke pause, et klient saaks vastata"
"""


@pytest.fixture
def toy() -> Iterator[type[Analyzer]]:
    register(LongStretch)
    try:
        yield LongStretch
    finally:
        unregister(LongStretch.name)


def test_a_registered_analyzer_adds_a_category_end_to_end(toy, tmp_path):
    company = tmp_path / "analyzers.yaml"
    company.write_text(TOY_SECTION, encoding="utf-8")
    cfg = load_analyzer_config([company])
    assert "long_stretch" in names() and "long_stretch" in sections()
    assert cfg.long_stretch.max_stretch_s == 2.7 and cfg.languages() == frozenset(FIVE)
    channels, utterances = dialogue()  # agent stretches of 3.0, 3.0 and 3.0 s, and shorter ones
    events, metrics = analyze_call(channels, utterances, cfg, language="nb")
    stretches = of(events, "long_stretch")
    assert [e.start for e in stretches] == pytest.approx([0.5, 9.0, 18.0], abs=0.05)
    first = stretches[0]
    assert first.rule == "analyzer.long_stretch" and first.severity == "minor"
    assert first.message == "Lang setning uten pause: 3.0 s" and first.suggestion.startswith("Ta pauser")
    assert first.details["confidence"] == pytest.approx(ramp(3.0, 2.7, 5.4), abs=0.01)
    assert metrics["longest_stretch_s"] == pytest.approx(3.0, abs=0.05)
    assert metrics["long_stretch_beyond_cap"] == 0
    # the built-in analyzers are untouched by it
    assert [e.category for e in events if e.category != "long_stretch"] == [
        "interruption",
        "raised_voice",
        "long_silence",
    ]
    # its section is validated like any other, naming the file and the field
    company.write_text(TOY_SECTION.replace("max_stretch_s: 2.7", "max_stretch_s: 0"), encoding="utf-8")
    with pytest.raises(RuleError, match=r"analyzers.yaml: long_stretch.max_stretch_s: must be positive"):
        load_analyzer_config([company])
    # without its texts it cannot load (texts live in YAML only)
    with pytest.raises(RuleError, match="long_stretch.message: no text for language 'ru'"):
        load_analyzer_config()
    # a config loaded before it was registered says so instead of failing obscurely
    unregister("long_stretch")
    old = load_analyzer_config()
    register(LongStretch)
    with pytest.raises(CoachError, match="registered after"):
        CallAnalyzers(old)


def test_registry_refuses_duplicates_and_keeps_builtins():
    with pytest.raises(CoachError, match="exists already"):
        register(type("Again", (Analyzer,), {"name": "raised_voice"}))
    with pytest.raises(CoachError, match="exists already"):
        register(type("Clash", (Analyzer,), {"name": "activity"}))
    with pytest.raises(CoachError, match="built in"):
        unregister("interruption")
    builtin = ["interruption", "raised_voice", "speech_rate", "long_silence"]
    assert [cls.name for cls in registered()] == builtin


def test_single_channel_skips_analyzers_that_need_the_customer(toy, tmp_path):
    company = tmp_path / "analyzers.yaml"
    company.write_text(TOY_SECTION, encoding="utf-8")
    an = CallAnalyzers(load_analyzer_config([company]), speakers=("agent",))
    assert set(an.skipped) >= {"interruption", "long_silence"} and "long_stretch" not in an.skipped
    an.finish()
    metrics = an.metrics()
    assert metrics["interruptions"] is None and metrics["interruption_beyond_cap"] is None
    assert metrics["longest_stretch_s"] == 0.0


# -- texts -------------------------------------------------------------------------------


def test_texts_exist_in_all_five_languages_and_format():
    cfg = load_analyzer_config()
    assert cfg.languages() == frozenset(FIVE)
    for cls in registered():
        opts = cfg.options(cls.name)
        sample = {**cls.details_example, "confidence": 0.8}
        for field in text_fields(cls.Options):
            texts = getattr(opts, field)
            assert set(texts) == set(FIVE), (cls.name, field)
            placeholders = {p for lang in FIVE for _, p, _, _ in string.Formatter().parse(texts[lang]) if p}
            for lang in FIVE:
                formatted = texts[lang].format(**sample)
                assert formatted.strip() and "{" not in formatted, (cls.name, field, lang)
                # every language shows the same figures as Russian, and is its own text
                used = {p for _, p, _, _ in string.Formatter().parse(texts[lang]) if p}
                assert used == placeholders, (cls.name, field, lang, used)
                if lang != "en":
                    assert texts[lang] != texts["en"], (cls.name, field, lang)
                assert len(formatted) <= 100, (cls.name, field, lang)


@pytest.mark.parametrize("language", FIVE)
def test_findings_are_worded_in_the_call_language(language):
    cfg = load_analyzer_config()
    channels, utterances = dialogue()
    events, _ = analyze_call(channels, utterances, cfg, language=language)
    assert [e.category for e in events] == ["interruption", "raised_voice", "long_silence"]
    for e in events:
        opts = cfg.options(e.category)
        assert e.message == opts.message[language].format(**e.details)
        assert e.suggestion == opts.suggestion[language]
    assert "1.0" in events[0].message  # the overlap's seconds, in every language


def test_unknown_language_is_refused_and_a_company_can_add_one(tmp_path):
    cfg = load_analyzer_config()
    with pytest.raises(CoachError, match="no texts for language 'de'"):
        CallAnalyzers(cfg, language="de")
    company = tmp_path / "de.yaml"
    company.write_text(
        "languages: [de]\nlong_silence: {message: {de: 'Stille: {silence_s:.0f} s'}}\n", encoding="utf-8"
    )
    with pytest.raises(RuleError, match=r"de.yaml: interruption.message: no text for language 'de'"):
        load_analyzer_config([company])
    german = {"message": "Hinweis {confidence:.0%}", "suggestion": "Bitte ruhig bleiben"}
    texts = {cls.name: {k: {"de": v} for k, v in german.items()} for cls in registered()}
    full = {"languages": ["de"], **texts}
    company.write_text(yaml.safe_dump(full, allow_unicode=True), encoding="utf-8")
    # every text of an analyzer, not only its message and suggestion
    with pytest.raises(RuleError, match=r"de.yaml: interruption.seam_message: no text for language 'de'"):
        load_analyzer_config([company])
    full["interruption"]["seam_message"] = {"de": "Ins Wort gefallen"}
    company.write_text(yaml.safe_dump(full, allow_unicode=True), encoding="utf-8")
    # a language needs its conversational pace too (speech rate is judged against it)
    with pytest.raises(RuleError, match=r"de.yaml: speech_rate.max_syllables_per_s: no value for .*'de'"):
        load_analyzer_config([company])
    full["speech_rate"]["max_syllables_per_s"] = {"de": 6.0}
    company.write_text(yaml.safe_dump(full, allow_unicode=True), encoding="utf-8")
    cfg = load_analyzer_config([company])
    norms = cfg.speech_rate.max_syllables_per_s
    assert norms["de"] == 6.0 and norms["ru"] == 6.8
    assert cfg.languages() == frozenset({*FIVE, "de"})
    channels, utterances = dialogue()
    events, _ = analyze_call(channels, utterances, cfg, language="de")
    assert events[0].message == f"Hinweis {events[0].details['confidence']:.0%}"


# -- loading -------------------------------------------------------------------------------


def test_rules_dir_moves_analyzers_yaml(tmp_path, monkeypatch):
    rules = tmp_path / "rules"
    rules.mkdir()
    shutil.copy(ROOT / "rules" / "analyzers.yaml", rules / "analyzers.yaml")
    text = (rules / "analyzers.yaml").read_text(encoding="utf-8")
    (rules / "analyzers.yaml").write_text(
        text.replace("threshold_db: 8.5", "threshold_db: 9.5"), encoding="utf-8"
    )
    monkeypatch.setenv("COACH_RULES_DIR", str(rules))
    assert default_path() == rules / "analyzers.yaml"
    cfg = load_analyzer_config()
    assert cfg.sources == (str(rules / "analyzers.yaml"),) and cfg.raised_voice.threshold_db == 9.5
    monkeypatch.setenv("COACH_RULES_DIR", str(tmp_path / "empty"))
    with pytest.raises(RuleError, match="analyzer config not found"):
        load_analyzer_config()


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("raised_voice: {confident_db: 6}\n", "raised_voice.confident_db: must be above threshold_db"),
        ("speech_rate: {max_per_call: -1}\n", "speech_rate.max_per_call: must not be negative"),
        ("speech_rate: {max_per_call: 2.5}\n", "speech_rate.max_per_call: expected a whole number"),
        ("activity: {min_dbfs: 3}\n", "activity.min_dbfs: must be at most 0"),
        ("interruption: {message: {ru: 5}}\n", "interruption.message.ru: expected non-empty text"),
        ("interruption: {message: 'Вы перебили'}\n", "interruption.message: expected a mapping"),
        ("interruption: {severity: 3}\n", "interruption.severity: expected text"),
        ("languages: de\n", "languages: expected a list"),
        ("raised_voice: {message: {en: '{confidence:.0%} {db}'}}\n", "raised_voice.message.en: bad"),
    ],
)
def test_more_bad_config_names_file_and_field(tmp_path, text, field):
    path = tmp_path / "company.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(RuleError) as err:
        load_analyzer_config([path])
    assert str(path) in str(err.value) and field in str(err.value)


def test_every_option_is_documented():
    """Each field has a one-line doc where it is declared, and docs/analyzers.md names it."""
    docs = (ROOT / "docs" / "analyzers.md").read_text(encoding="utf-8")
    for section, cls in sections().items():
        for name, doc in field_docs(cls).items():
            assert doc and "\n" not in doc, f"{section}.{name}"
            assert f"`{name}`" in docs, f"docs/analyzers.md does not mention {section}.{name}"


def test_int16_audio_reads_as_float():
    cfg = load_analyzer_config()
    parts = [(0.5, 3, -24), (5, 3, -24), (9, 3, -24), (13, 3, -12), (17, 3, -24)]
    agent = (track(21, parts) * 32767).astype(np.int16)
    words = spoken(parts)
    events, _ = analyze_call({"agent": agent.astype(np.float32) / 32768.0}, words, cfg)
    an = CallAnalyzers(cfg, speakers=("agent",))
    got = an.feed_audio("agent", agent, 0.0)
    for u in words:
        got += an.add_utterance(u)
    got += an.finish()
    assert [e.to_dict() for e in got] == [e.to_dict() for e in events] and len(events) == 1
