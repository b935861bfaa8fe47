// coach overlay: one websocket (/ws on this page's own host), call after call.
// During a call: a card that leads with the phrase to say (largest type) and gives the reason
// below, a filler counter, the pace against its norm, talk/listen and monologue meters, and the
// last transcript lines, the call's checklist ticking as its steps are said, and the customer's
// name (one click corrects it: sent to coach, which uses it in the next suggestions). A customer
// who is upset brings a "prompt" card (the phrase to say first); a recommended phrase brings a
// brief green line, never a card. When the call ends: a scrollable review (score, steps, top
// findings, one line per finding with the quote and the better phrase). When coach stops or a microphone is lost:
// a large notice, and everything else dimmed. Plain JS, no build step.
//
// Alert fatigue is the main complaint about live coaching tools, so cards are rate-limited (one
// new card per HINT.minGapMs unless a more severe one comes); a repeat of the card on screen
// bumps its "×N"; others wait in a queue ("+N") instead of being dropped; a dismissed or
// "not helpful" rule is muted; cards hide again after a few seconds.
"use strict";

(() => {
  const HINT = {
    minGapMs: 6000,
    muteAfterDismissMs: 120000,
    staleMs: 20000,
    goneAfterMs: 1500,  // no connection this long: the "coach stopped" notice
    showMs: { critical: 30000, major: 25000, warning: 20000, minor: 15000, info: 12000 },
    sayWords: 10,  // the phrase to say: at most about this many words on the card
    promptShowMs: 20000,  // a prompt (the customer is upset) stays this long
    praiseMs: 3000,  // a positive cue: a green line for this long
    monologueWarnS: 45,
  };
  // rules use info/minor/major/critical, the acoustic analyzers info/warning/critical
  const RANK = { info: 1, minor: 2, warning: 3, major: 3, critical: 4 };
  const PROMPT_RANK = RANK.major;  // the customer is upset now: worth interrupting a minor card
  const MAX_LINES = 8;
  const CALL_KEY = "F8";

  const TEXT = {
    ru: {
      connecting: "подключение…", connected: "на связи", disconnected: "нет связи",
      customer: "Клиент:", fillers: "Паразиты", rate: "Темп", talk: "Говорите", monologue: "Монолог",
      sylPerS: "слог/с", normUpTo: "норма до", you: "вы", them: "клиент",
      calmCall: "Подсказки появятся здесь", idleSpeech: "Звонка нет. Он начнётся, когда кто-то заговорит.",
      idleManual: "Звонка нет. Нажмите «Начать звонок» (F8).", replayOver: "Все записи проиграны.",
      start: "Начать звонок", end: "Завершить", review: "Разбор звонка", all: "Все замечания",
      agent: "Вы", customerShort: "Клиент", call: "итог", said: "Сказано:", noFindings: "Замечаний нет",
      unhelpful: "Не помогло", thanks: "Спасибо, учтём", score: "из 100",
      queued: (n) => `+${n}`, missed: (n) => `Ещё ${n} — в разборе после звонка`,
      fillerSaid: (w) => `Вы сказали ${w}`, fillerTimes: (n) => `×${n}`,
      stoppedTitle: "Коуч остановлен", stoppedDetail: "Подсказки больше не приходят. Запустите coach снова — окно подключится само.",
      goneTitle: "Нет связи с коучем", goneDetail: "Подсказки не приходят. Пробую подключиться…",
      lostTitle: "Микрофон пропал", lostDetail: (d) => `Устройство «${d}» не даёт звука. Жду, когда оно вернётся…`,
      lostCustomerTitle: "Звук клиента пропал",
      errorTitle: "Коуч остановился из-за ошибки", errorDetail: "Подсказки не приходят. Подробности — в окне, где запущен coach.",
      back: (d) => `Устройство «${d}» снова работает`,
      noCall: "Сейчас нет звонка", replayCalls: "В повторе звонки начинаются сами", refused: "Команда не выполнена",
      promptTag: "подсказка", promptTitle: "Клиент расстроен — это не ваша ошибка. Скажите это первым.",
      customerSaid: "Клиент:", nameAdd: "+ имя", namePlaceholder: "Имя клиента",
      nameHeard: "Так услышано, не подтверждено. Нажмите, чтобы исправить.",
      nameConfirmed: "Нажмите, чтобы исправить имя", nameSet: "Имя исправлено", steps: "Шаги звонка",
      categories: {
        customer_emotion: "Клиент недоволен", good_practice: "Хорошо",
        forbidden_phrase: "Запрещённая фраза", negative_phrasing: "Отрицание",
        diminutive: "Уменьшительные слова", filler_words: "Слова-паразиты",
        name_not_asked: "Имя клиента", name_not_used: "Имя клиента", no_greeting: "Приветствие",
        no_closing: "Завершение", interruption: "Перебивание", raised_voice: "Громкость",
        speech_rate: "Темп речи", long_silence: "Пауза",
      },
    },
    en: {
      connecting: "connecting…", connected: "connected", disconnected: "disconnected",
      customer: "Customer:", fillers: "Fillers", rate: "Pace", talk: "You talk", monologue: "Monologue",
      sylPerS: "syl/s", normUpTo: "norm up to", you: "you", them: "customer",
      calmCall: "Hints will appear here", idleSpeech: "No call. One starts when someone speaks.",
      idleManual: "No call. Press “Start call” (F8).", replayOver: "All recordings played.",
      start: "Start call", end: "End call", review: "Call review", all: "All findings",
      agent: "You", customerShort: "Customer", call: "call", said: "Said:", noFindings: "No findings",
      unhelpful: "Not helpful", thanks: "Thanks, noted", score: "of 100",
      queued: (n) => `+${n}`, missed: (n) => `${n} more — in the review after the call`,
      fillerSaid: (w) => `You said ${w}`, fillerTimes: (n) => `×${n}`,
      stoppedTitle: "Coach stopped", stoppedDetail: "No more hints. Start coach again; this window reconnects by itself.",
      goneTitle: "Lost contact with coach", goneDetail: "No hints are coming. Reconnecting…",
      lostTitle: "Microphone lost", lostDetail: (d) => `Device “${d}” gives no sound. Waiting for it to come back…`,
      lostCustomerTitle: "Customer audio lost",
      errorTitle: "Coach stopped on an error", errorDetail: "No more hints. Details are in the window coach runs in.",
      back: (d) => `Device “${d}” works again`,
      noCall: "No call in progress", replayCalls: "In a replay the recordings start the calls", refused: "Command refused",
      promptTag: "prompt", promptTitle: "The customer is upset, not through your fault. Say this first.",
      customerSaid: "Customer:", nameAdd: "+ name", namePlaceholder: "Customer's name",
      nameHeard: "Heard, not confirmed. Click to correct it.",
      nameConfirmed: "Click to correct the name", nameSet: "Name corrected", steps: "Call steps",
      categories: {
        customer_emotion: "Customer upset", good_practice: "Well done",
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
    status: $("status"), statusText: $("status-text"), clock: $("call-clock"), customer: $("customer"),
    customerLabel: $("customer-label"), customerName: $("customer-name"), callButton: $("call-button"),
    nameAdd: $("name-add"), nameInput: $("customer-input"), checklist: $("checklist"), praise: $("praise"),
    hintTag: $("hint-tag"), reviewSteps: $("review-steps"),
    stopped: $("stopped"), stoppedTitle: $("stopped-title"), stoppedDetail: $("stopped-detail"),
    banner: $("banner"), live: $("live-view"),
    hint: $("hint"), hintCategory: $("hint-category"), hintRepeat: $("hint-repeat"), hintQueue: $("hint-queue"),
    hintSay: $("hint-say"), hintWhy: $("hint-why"), hintSaid: $("hint-said"), dismiss: $("hint-dismiss"),
    unhelpful: $("hint-unhelpful"), thanks: $("hint-thanks"), calm: $("calm"), calmText: $("calm-text"),
    missed: $("missed"),
    fillers: $("fillers"), fillersLabel: $("fillers-label"), rate: $("rate"), rateLabel: $("rate-label"),
    rateBar: $("rate-bar"), rateLimit: $("rate-limit"), talk: $("talk"), talkLabel: $("talk-label"),
    talkBar: $("talk-bar"), talkMeter: $("talk-meter"), monologue: $("monologue"),
    monologueLabel: $("monologue-label"), monologueMeter: $("monologue-meter"), transcript: $("transcript"),
    review: $("review"), reviewTitle: $("review-title"), reviewScore: $("review-score"), reviewTop: $("review-top"),
    reviewAll: $("review-all"), audio: $("audio"), timelineBar: $("timeline-bar"), findings: $("findings"),
  };

  const params = new URLSearchParams(location.search);
  const token = params.get("token") || new URLSearchParams(location.hash.slice(1)).get("token");
  let t = TEXT[(document.documentElement.lang || "ru")] || TEXT.en;
  let state = freshState();
  let desk = { language: null, mode: "live", idle: true, startOnSpeech: true, over: false };
  let ws = null;
  let retries = 0;
  let goneTimer = null;
  let notice = null;  // {kind: "stopped"|"gone"|"device"|"error", ...}
  const lostDevices = new Map();

  function freshState() {
    return {
      session: null, events: new Map(), hints: new Set(), counts: new Map(), lines: [], partials: new Map(),
      current: null, repeat: 1, lastShownAt: 0, muted: new Map(), pending: [], missed: 0,
      hideTimer: null, ended: null, feedback: new Set(), customerName: null,
      checklist: null, name: null, cues: new Set(), praiseTimer: null, editing: null,
    };
  }

  // -- connection ----------------------------------------------------------------
  function connect() {
    setStatus("connecting");
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const query = token ? `?token=${encodeURIComponent(token)}` : "";
    ws = new WebSocket(`${scheme}://${location.host}/ws${query}`);
    ws.onopen = () => {
      retries = 0;
      clearTimeout(goneTimer);
      setStatus("connected");
      if (notice && (notice.kind === "gone" || notice.kind === "stopped")) setNotice(null);
    };
    ws.onmessage = (e) => {
      let msg;
      try { msg = JSON.parse(e.data); } catch { return; }
      handle(msg);
    };
    ws.onclose = () => {
      setStatus("disconnected");
      clearTimeout(goneTimer);
      goneTimer = setTimeout(() => {
        if (!notice || notice.kind !== "stopped") setNotice({ kind: "gone" });
      }, HINT.goneAfterMs);
      const delay = Math.min(500 * 2 ** retries, 5000);
      retries += 1;
      setTimeout(connect, delay);
    };
    ws.onerror = () => { try { ws.close(); } catch { /* already closing */ } };
  }

  function send(msg) {
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(msg));
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
      case "call": onCall(msg); break;
      case "feedback": onFeedback(msg); break;
      case "checklist": onChecklist(msg); break;
      case "cue": onCue(msg); break;
      case "name": onName(msg); break;
      default: break;
    }
  }

  function setLanguage(lang) {
    // "auto": the desk decides per call; keep the page's language until a call names its own
    if (!lang || lang === "auto") return;
    desk.language = lang;
    t = TEXT[lang] || TEXT.en;
    document.documentElement.lang = lang;
    applyLabels();
  }

  // -- calls -----------------------------------------------------------------------
  function onSession(msg) {
    if (state.session && state.session.t0 === msg.t0) return;  // same call after a reconnect
    clearTimeout(state.hideTimer);
    clearTimeout(state.praiseTimer);
    stopEditing();
    state = freshState();
    state.session = msg;
    desk.idle = false;
    desk.mode = msg.mode || desk.mode;
    setLanguage(msg.language);
    if (notice && notice.kind === "stopped") setNotice(null);
    ui.hint.hidden = true;
    ui.transcript.replaceChildren();
    ui.findings.replaceChildren();
    ui.reviewTop.replaceChildren();
    ui.timelineBar.replaceChildren();
    ui.audio.removeAttribute("src");
    ui.banner.hidden = true;
    ui.customer.hidden = true;
    ui.customerName.textContent = "";
    ui.customerName.dataset.state = "";
    ui.praise.hidden = true;
    ui.checklist.replaceChildren();
    ui.checklist.hidden = true;
    ui.reviewSteps.hidden = true;
    ui.fillers.textContent = "0";
    ui.fillers.classList.remove("high");
    ui.rate.textContent = "–";
    ui.rateBar.style.width = "0";
    ui.talk.textContent = "–";
    ui.talkBar.style.width = "0";
    ui.monologue.textContent = "–";
    const two = (msg.speakers || []).length > 1;  // talk/listen needs the customer's own channel
    ui.talkMeter.hidden = !two;
    ui.monologueMeter.hidden = !two;
    ui.missed.hidden = true;
    setView("live");
    calm(t.calmCall);
  }

  function onCall(msg) {
    setLanguage(msg.language);
    if (msg.mode) desk.mode = msg.mode;
    if (msg.state === "idle") {
      desk.idle = true;
      desk.startOnSpeech = !!msg.start_on_speech;
      desk.over = msg.reason === "replay over";
      if (!state.ended) {
        setView("idle");
        calm(idleText());
      }
      updateButton();
    }
  }

  function idleText() {
    if (desk.over) return t.replayOver;
    return desk.startOnSpeech ? t.idleSpeech : t.idleManual;
  }

  function setView(view) {
    document.body.dataset.view = view;
    ui.live.hidden = view === "review";
    ui.review.hidden = view !== "review";
    ui.clock.hidden = view !== "live";
    updateButton();
  }

  function updateButton() {
    const inCall = !desk.idle && document.body.dataset.view === "live";
    ui.callButton.dataset.action = inCall ? "end" : "start";
    ui.callButton.textContent = inCall ? t.end : t.start;
    ui.callButton.hidden = !inCall && desk.mode === "replay";
    renderName();
  }

  function toggleCall(via) {
    send({ type: "call", action: ui.callButton.dataset.action, via });
  }

  ui.callButton.addEventListener("click", () => toggleCall("button"));

  function tickClock() {
    if (state.session && document.body.dataset.view === "live" && !state.ended) {
      const speed = state.session.speed || 1;
      const s = Math.max(0, (Date.now() / 1000 - state.session.t0) * speed);
      ui.clock.textContent = clock(s);
    }
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

  // -- cards -----------------------------------------------------------------------
  function onEvent(ev) {
    const key = `${ev.rule}|${ev.speaker}|${ev.start}|${ev.end}`;
    if (state.events.has(key)) return;  // a backlog replayed after a reconnect
    if (!ev.hint) state.events.set(key, ev);  // live-only advice is not a finding of the call
    else if (state.hints.has(key)) return;
    else state.hints.add(key);
    if (state.ended) renderReview();
    if (ev.start === null || ev.start === undefined) return;  // call-level: for the review
    state.counts.set(ev.rule, (state.counts.get(ev.rule) || 0) + 1);
    if (ev.card === false) return;  // decided too late to help now: the review lists it
    const age = Date.now() / 1000 - (ev.emitted_at || 0);
    if (age * 1000 > HINT.staleMs) return;  // an old finding from the backlog: review only
    offer(ev);
  }

  function rankOf(ev) {
    return ev.cue === "prompt" ? PROMPT_RANK : (RANK[ev.severity] || 0);
  }

  function showMsOf(ev) {
    return ev.cue === "prompt" ? HINT.promptShowMs : (HINT.showMs[ev.severity] || HINT.showMs.info);
  }

  // -- cues: prompts (a card with the phrase to say) and praise (a brief green line) ----------
  function onCue(cue) {
    const key = `${cue.rule}|${cue.speaker}|${cue.start}`;
    if (state.cues.has(key) || state.ended) return;  // a backlog replayed after a reconnect
    state.cues.add(key);
    const age = Date.now() / 1000 - (cue.emitted_at || 0);
    if (cue.cue === "prompt") {
      if (age * 1000 > HINT.staleMs) return;
      state.counts.set(cue.rule, (state.counts.get(cue.rule) || 0) + 1);
      offer(cue);
    } else if (age * 1000 <= HINT.praiseMs + 2000) {
      praise(cue);
    }
  }

  function praise(cue) {
    // never a card: a problem card on screen stays as it is; the line sits over the transcript
    ui.praise.textContent = `✓ ${cue.message || label(cue.category)}`;
    ui.praise.dataset.rule = cue.rule;
    ui.praise.hidden = false;
    clearTimeout(state.praiseTimer);
    state.praiseTimer = setTimeout(() => { ui.praise.hidden = true; }, HINT.praiseMs);
  }

  // -- the checklist: the call's required steps, ticked as they are said -----------------------
  function onChecklist(msg) {
    const before = new Map((state.checklist || []).map((i) => [i.id, i.done]));
    state.checklist = msg.items || [];
    renderSteps(ui.checklist, before);
    if (state.ended) renderSteps(ui.reviewSteps, null);
  }

  function renderSteps(list, before) {
    const items = state.checklist || [];
    list.replaceChildren(...items.map((item) => {
      const li = document.createElement("li");
      li.dataset.id = item.id;
      li.dataset.done = String(!!item.done);
      if (before && item.done && before.get(item.id) === false) li.classList.add("ticked");
      li.title = item.done && typeof item.at === "number" ? `${item.label} · ${clock(item.at)}` : item.label;
      li.append(span("mark", item.done ? "✓" : (list === ui.reviewSteps ? "✕" : "")), span("label", item.label));
      return li;
    }));
    list.hidden = items.length === 0;
    list.setAttribute("aria-label", t.steps);
  }

  // -- the customer's name: shown with its state; one click corrects it ----------------------------
  function onName(msg) {
    state.name = { name: msg.name || null, confirmed: !!msg.confirmed, set: !!msg.set };
    renderName();
  }

  function renderName() {
    const editing = !!state.editing;
    const live = !!state.session && !state.ended && document.body.dataset.view === "live";
    const n = state.name;
    ui.nameInput.hidden = !editing;
    ui.customer.hidden = editing || !n || !n.name;
    ui.nameAdd.hidden = editing || !live || !!(n && n.name);
    if (n && n.name) {
      ui.customerName.textContent = n.name;
      ui.customerName.dataset.state = n.pending ? "pending" : (n.confirmed ? "confirmed" : "heard");
      ui.customerName.title = `${n.name} — ${n.confirmed ? t.nameConfirmed : t.nameHeard}`;
    }
  }

  function startEditing() {
    if (!state.session || state.ended) return;
    const current = (state.name && state.name.name) || "";
    state.editing = { from: current };
    ui.nameInput.value = current;
    ui.nameInput.placeholder = t.namePlaceholder;
    renderName();
    ui.nameInput.focus();
    ui.nameInput.select();
  }

  function stopEditing() {
    if (!state.editing) return;
    state.editing = null;
    renderName();
  }

  function commitName() {
    if (!state.editing) return;
    const typed = ui.nameInput.value.trim().replace(/\s+/g, " ");
    const from = state.editing.from;
    state.editing = null;
    if (typed !== from || (state.name && !state.name.confirmed)) {
      send({ type: "name", name: typed, via: "button" });
      state.nameBefore = state.name;
      // shown at once, confirmed when coach answers with a "name" message
      state.name = typed ? { name: typed, confirmed: false, set: false, pending: true } : null;
    }
    renderName();
  }

  ui.customerName.addEventListener("click", startEditing);
  ui.nameAdd.addEventListener("click", startEditing);
  ui.nameInput.addEventListener("keydown", (e) => {
    if (e.key === "Enter") { e.preventDefault(); commitName(); } else if (e.key === "Escape") {
      e.preventDefault();
      e.stopPropagation();  // Esc here cancels the edit, not the card
      stopEditing();
    }
  });
  ui.nameInput.addEventListener("blur", () => {
    if (!state.editing) return;
    if (ui.nameInput.value.trim() && ui.nameInput.value.trim() !== state.editing.from) commitName();
    else stopEditing();
  });

  function offer(ev) {
    const now = Date.now();
    if ((state.muted.get(ev.rule) || 0) > now) return;
    const showing = state.current && !ui.hint.hidden;
    if (showing && state.current.rule === ev.rule) {  // the same advice again: count it on the card
      state.repeat = state.counts.get(ev.rule) || state.repeat + 1;
      ui.hintRepeat.textContent = `×${state.repeat}`;
      ui.hintRepeat.hidden = false;
      armHide(showMsOf(ev));
      return;
    }
    const busy = showing && now - state.lastShownAt < HINT.minGapMs;
    if (busy && rankOf(ev) <= rankOf(state.current)) {
      const same = state.pending.findIndex((p) => p.rule === ev.rule);
      if (same >= 0) state.pending.splice(same, 1);
      state.pending.push(ev);  // never dropped: shown when the card is free
      renderQueue();
      return;
    }
    show(ev);
  }

  function shortPhrase(text) {
    const words = text.trim().split(/\s+/);
    if (words.length <= HINT.sayWords) return text.trim();
    // cut at the last clause end within the limit, if that keeps enough to say
    for (let i = HINT.sayWords - 1; i >= 3; i -= 1) {
      if (/[.!?;:,]$/.test(words[i])) return `${words.slice(0, i + 1).join(" ").replace(/[,;:]$/, "")}…`;
    }
    return `${words.slice(0, HINT.sayWords).join(" ").replace(/[,;:.]$/, "")}…`;
  }

  function fillerWords(ev) {
    const said = (ev.text || "").toLowerCase().split(/[,.!?;…]+/).map((w) => w.trim()).filter(Boolean);
    return [...new Set(said)].map((w) => `«${w}»`).join(", ");
  }

  function reasonOf(ev) {
    if (ev.category === "filler_words" && ev.text) return t.fillerSaid(fillerWords(ev));
    return ev.message || "";
  }

  function show(ev) {
    const now = Date.now();
    state.current = ev;
    state.repeat = state.counts.get(ev.rule) || 1;
    state.lastShownAt = now;
    const prompt = ev.cue === "prompt";
    ui.hint.dataset.severity = ev.severity || "info";
    ui.hint.dataset.rule = ev.rule;
    ui.hint.dataset.kind = prompt ? "prompt" : "finding";
    ui.hintCategory.textContent = label(ev.category);
    ui.hintTag.textContent = t.promptTag;
    ui.hintTag.title = t.promptTitle;
    ui.hintTag.hidden = !prompt;
    ui.hintRepeat.textContent = `×${state.repeat}`;
    ui.hintRepeat.hidden = state.repeat < 2;
    const reason = reasonOf(ev);
    if (ev.suggestion) {
      ui.hintSay.textContent = shortPhrase(ev.suggestion);
      ui.hintSay.title = ev.suggestion;
      ui.hintSay.classList.remove("plain");
      ui.hintWhy.textContent = reason;
      ui.hintWhy.hidden = !reason;
    } else {  // nothing to say instead: the reason itself, large
      ui.hintSay.textContent = reason;
      ui.hintSay.title = "";
      ui.hintSay.classList.add("plain");
      ui.hintWhy.hidden = true;
    }
    const quote = ev.category === "filler_words" ? "" : ev.text;
    ui.hintSaid.textContent = quote ? `${prompt ? t.customerSaid : t.said} «${quote}»` : "";
    ui.hintSaid.hidden = !quote;
    ui.unhelpful.hidden = false;
    ui.unhelpful.disabled = false;
    ui.thanks.hidden = true;
    ui.hint.hidden = false;
    ui.calm.hidden = true;
    renderQueue();
    armHide(showMsOf(ev));
  }

  function armHide(ms) {
    clearTimeout(state.hideTimer);
    state.hideTimer = setTimeout(hide, ms);
  }

  function hide() {
    clearTimeout(state.hideTimer);
    ui.hint.hidden = true;
    ui.calm.hidden = false;
    state.current = null;
    drainPending(true);
  }

  function dismiss() {
    if (state.current) state.muted.set(state.current.rule, Date.now() + HINT.muteAfterDismissMs);
    hide();
  }

  function notHelpful() {
    const ev = state.current;
    if (!ev) return;
    send({ type: "feedback", rule: ev.rule, start: ev.start, category: ev.category, via: "card",
      number: state.session && state.session.number });
    state.feedback.add(`${ev.rule}|${ev.start}`);
    state.muted.set(ev.rule, Number.MAX_SAFE_INTEGER);  // not again in this call
    ui.unhelpful.hidden = true;
    ui.thanks.textContent = t.thanks;
    ui.thanks.hidden = false;
    clearTimeout(state.hideTimer);
    state.hideTimer = setTimeout(hide, 1500);
  }

  function onFeedback(msg) {
    state.feedback.add(`${msg.rule}|${msg.start}`);
  }

  function drainPending(free) {
    if (!state.pending.length) return;
    const now = Date.now();
    if (!free && state.current && !ui.hint.hidden && now - state.lastShownAt < HINT.minGapMs) return;
    const fresh = [];
    for (const e of state.pending) {
      if (now / 1000 - (e.emitted_at || 0) < HINT.staleMs / 1000) fresh.push(e);
      else state.missed += 1;  // too old to help now; still in the review
    }
    state.pending = [];
    fresh.sort((a, b) => rankOf(b) - rankOf(a) || a.emitted_at - b.emitted_at);
    if (fresh.length) {
      state.pending = fresh.slice(1);
      show(fresh[0]);
    }
    renderQueue();
  }

  function renderQueue() {
    ui.hintQueue.textContent = t.queued(state.pending.length);
    ui.hintQueue.hidden = state.pending.length === 0;
    ui.missed.textContent = t.missed(state.missed);
    ui.missed.hidden = state.missed === 0;
  }

  function calm(text) {
    ui.calmText.textContent = text;
  }

  ui.dismiss.addEventListener("click", dismiss);
  ui.unhelpful.addEventListener("click", notHelpful);
  document.addEventListener("keydown", (e) => {
    if (e.target === ui.nameInput && e.key !== CALL_KEY) return;  // typing the customer's name
    if (e.key === "Escape") dismiss();
    else if (e.key === CALL_KEY) { e.preventDefault(); toggleCall("hotkey"); }
  });
  setInterval(() => { drainPending(false); tickClock(); }, 500);

  // -- meters ------------------------------------------------------------------------
  function onMetrics(m) {
    if (m.customer_name && !state.name) {  // a coach that sends no "name" messages
      state.name = { name: m.customer_name, confirmed: true, set: false };
      renderName();
    }
    if (typeof m.fillers === "number") {
      ui.fillers.textContent = String(m.fillers);
      ui.fillers.classList.toggle("high", m.fillers >= 5);
    }
    const rate = m.rate || {};
    const max = rate.max_syllables_per_s || 7;
    if (typeof rate.syllables_per_s === "number") {
      const scale = max * 1.4;
      const fast = rate.syllables_per_s > max;
      ui.rate.textContent = `${rate.syllables_per_s.toFixed(1)} ${t.sylPerS}, ${t.normUpTo} ${fmt(max)}`;
      ui.rate.classList.toggle("high", fast);
      ui.rateBar.style.width = `${Math.min(rate.syllables_per_s / scale, 1) * 100}%`;
      ui.rateBar.classList.toggle("fast", fast);
      ui.rateLimit.style.left = `${(max / scale) * 100}%`;
    }
    const talk = m.talk || {};
    const two = (m.speakers || (state.session && state.session.speakers) || []).length > 1;
    ui.talkMeter.hidden = !two;
    ui.monologueMeter.hidden = !two;
    const ratio = typeof talk.talk_ratio_agent === "number" ? talk.talk_ratio_agent : talk.talk_ratio_agent_call;
    if (typeof ratio === "number") {
      const you = Math.round(ratio * 100);
      ui.talk.textContent = `${t.you} ${you}% · ${t.them} ${100 - you}%`;
      ui.talkBar.style.width = `${you}%`;
      ui.talkBar.classList.toggle("high", you > 70);
    }
    if (typeof talk.monologue_s === "number") {
      ui.monologue.textContent = talk.monologue_s >= 1 ? clock(talk.monologue_s) : "–";
      ui.monologue.classList.toggle("high", talk.monologue_s >= HINT.monologueWarnS);
    }
  }

  function fmt(x) {
    return Number.isInteger(x) ? String(x) : x.toFixed(1);
  }

  // -- status: coach stopped, devices, refused commands ------------------------------------
  function onStatus(msg) {
    if (msg.source === "coach" && msg.state === "stopped") {
      setNotice({ kind: "stopped" });
    } else if (msg.source === "pipeline" && msg.state === "error") {
      setNotice({ kind: "error", raw: msg.message });
    } else if (msg.source === "command") {
      if (msg.command === "name" && state.name && state.name.pending) {  // not taken: as it was
        state.name = state.nameBefore || null;
        renderName();
      }
      const text = msg.code === "http_409" ? (desk.mode === "replay" && msg.command === "call" && desk.idle
        ? t.replayCalls : t.noCall) : t.refused;
      banner(text);
    } else if (msg.state === "lost") {
      lostDevices.set(msg.source, msg);
      setNotice({ kind: "device", source: msg.source, device: msg.device || msg.source, raw: msg.message });
    } else if (msg.state === "ok") {
      const was = lostDevices.get(msg.source);
      lostDevices.delete(msg.source);
      if (notice && notice.kind === "device") {
        const other = [...lostDevices.values()][0];
        setNotice(other ? { kind: "device", source: other.source, device: other.device || other.source } : null);
      }
      if (was) banner(t.back(msg.device || was.device || msg.source), 4000);
    }
  }

  function setNotice(n) {
    notice = n;
    if (!n) {
      ui.stopped.hidden = true;
      document.body.classList.remove("stale");
      return;
    }
    ui.stopped.dataset.kind = n.kind;
    ui.stopped.title = n.raw || "";
    if (n.kind === "stopped") {
      ui.stoppedTitle.textContent = t.stoppedTitle;
      ui.stoppedDetail.textContent = t.stoppedDetail;
    } else if (n.kind === "gone") {
      ui.stoppedTitle.textContent = t.goneTitle;
      ui.stoppedDetail.textContent = t.goneDetail;
    } else if (n.kind === "error") {
      ui.stoppedTitle.textContent = t.errorTitle;
      ui.stoppedDetail.textContent = t.errorDetail;
    } else {
      ui.stoppedTitle.textContent = n.source === "customer" ? t.lostCustomerTitle : t.lostTitle;
      ui.stoppedDetail.textContent = t.lostDetail(n.device);
    }
    ui.stopped.hidden = false;
    document.body.classList.add("stale");
    clearTimeout(state.hideTimer);  // a dimmed card stays put until things work again
  }

  let bannerTimer = null;
  function banner(text, ms = 3000) {
    ui.banner.textContent = text;
    ui.banner.hidden = false;
    clearTimeout(bannerTimer);
    bannerTimer = setTimeout(() => { ui.banner.hidden = true; }, ms);
  }

  // -- end of call: scorecard and review ---------------------------------------------------
  function onEnd(msg) {
    state.ended = msg;
    state.partials.clear();
    clearTimeout(state.hideTimer);
    state.pending = [];
    ui.hint.hidden = true;
    state.current = null;
    clearTimeout(state.praiseTimer);
    ui.praise.hidden = true;
    stopEditing();
    desk.idle = true;
    const audio = state.session && state.session.audio;
    if (audio && ui.audio.getAttribute("src") !== audio) ui.audio.src = audio;
    ui.audio.hidden = !audio;
    renderReview();
    setView("review");
    ui.review.scrollTop = 0;
  }

  function duration() {
    return (state.ended && state.ended.duration_s) || (state.session && state.session.duration_s) || 0;
  }

  function label(category) {
    return t.categories[category] || String(category || "").replace(/_/g, " ");
  }

  function renderReview() {
    const end = state.ended || {};
    const total = end.score && typeof end.score.total === "number" ? end.score.total : null;
    ui.reviewScore.hidden = total === null;
    if (total !== null) {
      ui.reviewScore.replaceChildren(document.createTextNode(String(total)), small(` ${t.score}`));
      ui.reviewScore.className = `score ${total >= 85 ? "good" : total >= 60 ? "fair" : "poor"}`;
    }
    renderSteps(ui.reviewSteps, null);
    ui.reviewTop.replaceChildren(...(end.top || []).map((ev) => {
      const li = document.createElement("li");
      li.dataset.severity = ev.severity;
      li.append(document.createTextNode(`${label(ev.category)}${ev.start != null ? ` · ${clock(ev.start)}` : ""}`));
      if (ev.suggestion) {
        const better = document.createElement("span");
        better.className = "better";
        better.textContent = `→ ${shortPhrase(ev.suggestion)}`;
        li.append(better);
      }
      return li;
    }));

    const events = [...state.events.values()].sort(
      (a, b) => (a.start ?? Infinity) - (b.start ?? Infinity) || a.rule.localeCompare(b.rule));
    const fillers = events.filter((e) => e.category === "filler_words");
    const items = [];
    const marks = [];
    const totalS = duration();
    let fillerDone = false;
    for (const ev of events) {
      if (ev.category === "filler_words") {
        if (fillerDone) continue;
        fillerDone = true;
        items.push(fillerLine(fillers));
        continue;
      }
      const li = finding(ev);
      items.push(li);
      if (ev.start != null && totalS > 0) {
        const mark = document.createElement("button");
        mark.className = "mark";
        mark.type = "button";
        mark.dataset.severity = ev.severity;
        mark.style.left = `${Math.min(ev.start / totalS, 1) * 100}%`;
        mark.title = `${clock(ev.start)} ${label(ev.category)}`;
        mark.addEventListener("click", () => seek(ev.start, li));
        marks.push(mark);
      }
    }
    if (!items.length) {
      const li = document.createElement("li");
      li.className = "finding none";
      li.textContent = t.noFindings;
      items.push(li);
    }
    ui.findings.replaceChildren(...items);
    ui.timelineBar.replaceChildren(...marks);
  }

  function small(text) {
    const s = document.createElement("small");
    s.textContent = text;
    return s;
  }

  function span(cls, text) {
    const s = document.createElement("span");
    s.className = cls;
    s.textContent = text;
    return s;
  }

  function finding(ev) {
    const li = document.createElement("li");
    li.className = "finding";
    li.dataset.severity = ev.severity;
    li.dataset.category = ev.category;
    li.dataset.rule = ev.rule;
    const what = span("what", label(ev.category));
    const body = span("body", "");
    body.append(what);
    if (ev.text) body.append(span("quote", ` «${ev.text}»`));
    else if (ev.message) body.append(span("quote", ` ${ev.message}`));
    if (ev.start === null || ev.start === undefined) {
      li.classList.add("call");
      li.append(span("time", t.call), span("sev", ""), body);
    } else {
      li.dataset.start = ev.start;
      li.tabIndex = 0;
      li.append(span("time", clock(ev.start)), span("sev", ""), body);
      li.addEventListener("click", () => seek(ev.start, li));
      li.addEventListener("keydown", (e) => { if (e.key === "Enter") seek(ev.start, li); });
    }
    if (ev.suggestion) li.append(span("better", `→ ${ev.suggestion}`));
    return li;
  }

  function fillerLine(fillers) {
    const words = [...new Set(fillers.flatMap((e) => fillerWords(e).split(", ").filter(Boolean)))];
    const first = fillers[0];
    const li = finding({ ...first, text: "" });
    li.dataset.count = String(fillers.length);
    const body = li.querySelector(".body");
    body.replaceChildren(span("what", `${label("filler_words")} ${t.fillerTimes(fillers.length)}`),
      span("quote", words.length ? `: ${words.join(", ")}` : ""));
    return li;
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

  function applyLabels() {
    ui.customerLabel.textContent = t.customer;
    ui.fillersLabel.textContent = t.fillers;
    ui.rateLabel.textContent = t.rate;
    ui.talkLabel.textContent = t.talk;
    ui.monologueLabel.textContent = t.monologue;
    ui.reviewTitle.textContent = t.review;
    ui.reviewAll.textContent = t.all;
    ui.unhelpful.textContent = t.unhelpful;
    ui.nameAdd.textContent = t.nameAdd;
    ui.nameInput.placeholder = t.namePlaceholder;
    ui.checklist.setAttribute("aria-label", t.steps);
    setStatus(ui.status.dataset.state);
    updateButton();
    if (notice) setNotice(notice);
  }

  // exposed for tests and debugging in the console
  window.coachOverlay = { state: () => state, desk: () => desk, hint: HINT, shortPhrase };
  applyLabels();
  calm("…");
  connect();
})();
