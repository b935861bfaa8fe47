// coach overlay: one websocket (/ws on this page's own host), a hint card, two meters,
// the last transcript lines and, when the call ends, its timeline. Plain JS, no build step.
//
// Alert fatigue is the main complaint about live coaching tools, so hints are
// rate-limited (one new card per HINT.minGapMs unless a more severe one comes),
// de-duplicated (the same rule again within HINT.dedupeMs only bumps a "x2"
// counter), muted for a while once dismissed, and hidden again after a few seconds.
"use strict";

(() => {
  const HINT = {
    minGapMs: 6000,
    dedupeMs: 60000,
    muteAfterDismissMs: 120000,
    staleMs: 20000,
    showMs: { critical: 30000, major: 25000, warning: 20000, minor: 15000, info: 12000 },
  };
  // rules use info/minor/major/critical, the acoustic analyzers info/warning/critical
  const RANK = { info: 1, minor: 2, warning: 3, major: 3, critical: 4 };
  const MAX_LINES = 8;

  const TEXT = {
    ru: {
      connecting: "подключение…", connected: "на связи", disconnected: "нет связи, переподключаюсь…",
      customer: "Клиент:", fillers: "Паразиты", rate: "Темп", calm: "Подсказки появятся здесь",
      ended: "Звонок окончен", timeline: "Разбор звонка", agent: "Вы", customerShort: "Клиент",
      call: "звонок", said: "Сказано:", noFindings: "Замечаний нет",
      categories: {
        forbidden_phrase: "Запрещённая фраза", negative_phrasing: "Отрицание",
        diminutive: "Уменьшительные слова", filler_words: "Слова-паразиты",
        name_not_asked: "Имя клиента", name_not_used: "Имя клиента", no_greeting: "Приветствие",
        no_closing: "Завершение", interruption: "Перебивание", raised_voice: "Громкость",
        speech_rate: "Темп речи", long_silence: "Пауза",
      },
    },
    en: {
      connecting: "connecting…", connected: "connected", disconnected: "disconnected, retrying…",
      customer: "Customer:", fillers: "Fillers", rate: "Pace", calm: "Hints will appear here",
      ended: "Call ended", timeline: "Call review", agent: "You", customerShort: "Customer",
      call: "call", said: "Said:", noFindings: "No findings",
      categories: {
        forbidden_phrase: "Forbidden phrase", negative_phrasing: "Negative phrasing",
        diminutive: "Diminutives", filler_words: "Filler words", name_not_asked: "Customer's name",
        name_not_used: "Customer's name", no_greeting: "Greeting", no_closing: "Closing",
        interruption: "Interruption", raised_voice: "Raised voice", speech_rate: "Speech rate",
        long_silence: "Silence",
      },
    },
  };

  const $ = (id) => document.getElementById(id);
  const ui = {
    status: $("status"), statusText: $("status-text"), customer: $("customer"),
    customerLabel: $("customer-label"), customerName: $("customer-name"), banner: $("banner"),
    hint: $("hint"), hintCategory: $("hint-category"), hintRepeat: $("hint-repeat"),
    hintMessage: $("hint-message"), hintSuggestion: $("hint-suggestion"), hintSaid: $("hint-said"),
    dismiss: $("hint-dismiss"), calm: $("calm"), calmText: $("calm-text"),
    fillers: $("fillers"), fillersLabel: $("fillers-label"), rate: $("rate"), rateLabel: $("rate-label"),
    rateBar: $("rate-bar"), rateLimit: $("rate-limit"), transcript: $("transcript"),
    timeline: $("timeline"), timelineTitle: $("timeline-title"), audio: $("audio"),
    timelineBar: $("timeline-bar"), findings: $("findings"),
  };

  let t = TEXT.ru;
  let state = freshState();
  let ws = null;
  let retries = 0;

  function freshState() {
    return {
      session: null, events: new Map(), hints: new Set(), lines: [], partials: new Map(), current: null,
      repeat: 1, lastShownAt: 0, shownByRule: new Map(), muted: new Map(), pending: [],
      hideTimer: null, ended: null,
    };
  }

  // -- connection ----------------------------------------------------------------
  function connect() {
    setStatus("connecting");
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    ws = new WebSocket(`${scheme}://${location.host}/ws`);
    ws.onopen = () => { retries = 0; setStatus("connected"); };
    ws.onmessage = (e) => {
      let msg;
      try { msg = JSON.parse(e.data); } catch { return; }
      handle(msg);
    };
    ws.onclose = () => {
      setStatus("disconnected");
      const delay = Math.min(500 * 2 ** retries, 5000);
      retries += 1;
      setTimeout(connect, delay);
    };
    ws.onerror = () => { try { ws.close(); } catch { /* already closing */ } };
  }

  function setStatus(s) {
    ui.status.dataset.state = s;
    ui.statusText.textContent = t[s];
  }

  function handle(msg) {
    switch (msg.type) {
      case "session": onSession(msg); break;
      case "transcript": onTranscript(msg); break;
      case "event": onEvent(msg); break;
      case "metrics": onMetrics(msg); break;
      case "status": onStatus(msg); break;
      case "end": onEnd(msg); break;
      default: break;
    }
  }

  // -- session -------------------------------------------------------------------
  function onSession(msg) {
    if (state.session && state.session.t0 === msg.t0) return;  // same call after a reconnect
    clearTimeout(state.hideTimer);
    state = freshState();
    state.session = msg;
    t = TEXT[msg.language] || TEXT.en;
    document.documentElement.lang = msg.language || "en";
    applyLabels();
    ui.hint.hidden = true;
    ui.calm.hidden = false;
    ui.transcript.replaceChildren();
    ui.findings.replaceChildren();
    ui.timelineBar.replaceChildren();
    ui.timeline.hidden = true;
    ui.banner.hidden = true;
    ui.customer.hidden = true;
    ui.fillers.textContent = "0";
    ui.rate.textContent = "–";
    ui.rateBar.style.width = "0";
  }

  function applyLabels() {
    ui.customerLabel.textContent = t.customer;
    ui.fillersLabel.textContent = t.fillers;
    ui.rateLabel.textContent = t.rate;
    ui.calmText.textContent = t.calm;
    ui.timelineTitle.textContent = t.timeline;
    setStatus(ui.status.dataset.state);
  }

  // -- transcript ----------------------------------------------------------------
  function onTranscript(msg) {
    if (msg.final) {
      state.partials.delete(msg.speaker);
      const key = `${msg.speaker}|${msg.start}`;
      if (state.lines.some((l) => l.key === key)) return;
      state.lines.push({ key, ...msg });
      state.lines.sort((a, b) => a.start - b.start);
      if (state.lines.length > MAX_LINES) state.lines.splice(0, state.lines.length - MAX_LINES);
    } else {
      state.partials.set(msg.speaker, msg);
    }
    renderTranscript();
  }

  function renderTranscript() {
    const rows = state.lines.map((l) => line(l, false));
    for (const p of state.partials.values()) rows.push(line(p, true));
    ui.transcript.replaceChildren(...rows.slice(-MAX_LINES));
  }

  function line(l, partial) {
    const div = document.createElement("div");
    div.className = `line ${l.speaker}${partial ? " partial" : ""}`;
    const who = document.createElement("span");
    who.className = "who";
    who.textContent = l.speaker === "agent" ? t.agent : t.customerShort;
    const text = document.createElement("span");
    text.className = "text";
    text.textContent = l.text;
    div.append(who, text);
    return div;
  }

  // -- hints -----------------------------------------------------------------------
  function onEvent(ev) {
    const key = `${ev.rule}|${ev.speaker}|${ev.start}|${ev.end}`;
    if (state.events.has(key)) return;  // a backlog replayed after a reconnect
    if (!ev.hint) state.events.set(key, ev);  // live-only advice is not a finding of the call
    else if (state.hints.has(key)) return;
    else state.hints.add(key);
    if (state.ended) renderTimeline();
    if (ev.start === null || ev.start === undefined) return;  // call-level: for the timeline
    const age = Date.now() / 1000 - (ev.emitted_at || 0);
    if (age * 1000 > HINT.staleMs) return;  // an old finding from the backlog: timeline only
    offer(ev);
  }

  function offer(ev) {
    const now = Date.now();
    if ((state.muted.get(ev.rule) || 0) > now) return;
    const last = state.shownByRule.get(ev.rule);
    if (last && now - last < HINT.dedupeMs) {
      if (state.current && state.current.rule === ev.rule && !ui.hint.hidden) {
        state.repeat += 1;
        ui.hintRepeat.textContent = `×${state.repeat}`;
        ui.hintRepeat.hidden = false;
      }
      return;
    }
    const busy = state.current && !ui.hint.hidden && now - state.lastShownAt < HINT.minGapMs;
    if (busy && (RANK[ev.severity] || 0) <= (RANK[state.current.severity] || 0)) {
      state.pending.push(ev);
      return;
    }
    show(ev);
  }

  function show(ev) {
    const now = Date.now();
    state.current = ev;
    state.repeat = 1;
    state.lastShownAt = now;
    state.shownByRule.set(ev.rule, now);
    ui.hint.dataset.severity = ev.severity || "info";
    ui.hint.dataset.rule = ev.rule;
    ui.hintCategory.textContent = t.categories[ev.category] || ev.category;
    ui.hintRepeat.hidden = true;
    ui.hintMessage.textContent = ev.message;
    ui.hintSuggestion.textContent = ev.suggestion || "";
    ui.hintSuggestion.hidden = !ev.suggestion;
    ui.hintSaid.textContent = ev.text ? `${t.said} «${ev.text}»` : "";
    ui.hintSaid.hidden = !ev.text;
    ui.hint.hidden = false;
    ui.calm.hidden = true;
    clearTimeout(state.hideTimer);
    state.hideTimer = setTimeout(hide, HINT.showMs[ev.severity] || HINT.showMs.info);
  }

  function hide() {
    clearTimeout(state.hideTimer);
    ui.hint.hidden = true;
    ui.calm.hidden = false;
    state.current = null;
  }

  function dismiss() {
    if (state.current) state.muted.set(state.current.rule, Date.now() + HINT.muteAfterDismissMs);
    hide();
  }

  function drainPending() {
    if (!state.pending.length) return;
    const now = Date.now();
    if (state.current && !ui.hint.hidden && now - state.lastShownAt < HINT.minGapMs) return;
    const fresh = state.pending.filter((e) => now / 1000 - (e.emitted_at || 0) < HINT.staleMs / 1000);
    state.pending = [];
    fresh.sort((a, b) => (RANK[b.severity] || 0) - (RANK[a.severity] || 0) || b.emitted_at - a.emitted_at);
    if (fresh.length) offer(fresh[0]);
  }

  ui.dismiss.addEventListener("click", dismiss);
  document.addEventListener("keydown", (e) => { if (e.key === "Escape") dismiss(); });
  setInterval(drainPending, 500);

  // -- meters ------------------------------------------------------------------------
  function onMetrics(m) {
    if (m.customer_name) {
      ui.customerName.textContent = m.customer_name;
      ui.customer.hidden = false;
    }
    if (typeof m.fillers === "number") {
      ui.fillers.textContent = String(m.fillers);
      ui.fillers.classList.toggle("high", m.fillers >= 5);
    }
    const rate = m.rate || {};
    const max = rate.max_syllables_per_s || 7;
    if (typeof rate.syllables_per_s === "number") {
      const scale = max * 1.4;
      ui.rate.textContent = rate.syllables_per_s.toFixed(1);
      ui.rateBar.style.width = `${Math.min(rate.syllables_per_s / scale, 1) * 100}%`;
      ui.rateBar.classList.toggle("fast", rate.syllables_per_s > max);
      ui.rateLimit.style.left = `${(max / scale) * 100}%`;
    }
  }

  function onStatus(msg) {
    ui.banner.textContent = msg.message || "";
    ui.banner.hidden = msg.state === "ok" || !msg.message;
  }

  // -- end of call: the timeline -------------------------------------------------------
  function onEnd(msg) {
    state.ended = msg;
    state.partials.clear();
    renderTranscript();
    if (state.session && state.session.audio && !ui.audio.getAttribute("src")) {
      ui.audio.src = state.session.audio;
    }
    ui.audio.hidden = !(state.session && state.session.audio);
    renderTimeline();
    ui.timeline.hidden = false;
    ui.calmText.textContent = t.ended;
  }

  function duration() {
    return (state.ended && state.ended.duration_s) || (state.session && state.session.duration_s) || 0;
  }

  function renderTimeline() {
    const events = [...state.events.values()].sort(
      (a, b) => (a.start ?? Infinity) - (b.start ?? Infinity) || a.rule.localeCompare(b.rule));
    const total = duration();
    const marks = [];
    const items = events.map((ev) => {
      const li = document.createElement("li");
      li.className = "finding";
      li.dataset.severity = ev.severity;
      li.dataset.category = ev.category;
      const time = document.createElement("span");
      time.className = "time";
      const sev = document.createElement("span");
      sev.className = "sev";
      const text = document.createElement("span");
      text.className = "text";
      text.textContent = (t.categories[ev.category] || ev.category) + ": " + ev.message;
      if (ev.start === null || ev.start === undefined) {
        li.classList.add("call");
        time.textContent = t.call;
      } else {
        li.dataset.start = ev.start;
        li.tabIndex = 0;
        time.textContent = clock(ev.start);
        li.title = ev.text || "";
        li.addEventListener("click", () => seek(ev.start, li));
        li.addEventListener("keydown", (e) => { if (e.key === "Enter") seek(ev.start, li); });
        if (total > 0) {
          const mark = document.createElement("button");
          mark.className = "mark";
          mark.type = "button";
          mark.dataset.severity = ev.severity;
          mark.style.left = `${Math.min(ev.start / total, 1) * 100}%`;
          mark.title = `${clock(ev.start)} ${ev.message}`;
          mark.addEventListener("click", () => seek(ev.start, li));
          marks.push(mark);
        }
      }
      li.append(time, sev, text);
      return li;
    });
    if (!items.length) {
      const li = document.createElement("li");
      li.className = "finding call";
      li.textContent = t.noFindings;
      items.push(li);
    }
    ui.findings.replaceChildren(...items);
    ui.timelineBar.replaceChildren(...marks);
  }

  function seek(start, li) {
    for (const el of ui.findings.querySelectorAll(".playing")) el.classList.remove("playing");
    li.classList.add("playing");
    if (!ui.audio.getAttribute("src")) return;
    ui.audio.currentTime = Math.max(0, start - 1.0);
    const played = ui.audio.play();
    if (played && played.catch) played.catch(() => { /* autoplay refused: the user presses play */ });
  }

  function clock(s) {
    const m = Math.floor(s / 60);
    const sec = Math.floor(s % 60);
    return `${m}:${String(sec).padStart(2, "0")}`;
  }

  // exposed for tests and debugging in the console
  window.coachOverlay = { state: () => state, hint: HINT };
  connect();
})();
