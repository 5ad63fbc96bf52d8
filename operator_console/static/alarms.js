// alerta-ivr: silent alarms on every console page. No dependencies.
//
// The banner lists the alarms nobody has taken (GET /api/alarms) and beeps (Web Audio:
// an oscillator, no sound file) until someone takes them; "take" (button or key t)
// acknowledges the newest through POST /alarms/<id>/take and opens its report. New
// alarms and takes by others arrive on the live feed (/events), so every open page
// follows. On the board (/alarms) the list is fetched again as alarms change.
//
// What it did is on <body> for people and tests alike: data-alarm-sound ("on"/"off"),
// data-alarm-beeps (patterns played), data-alarm-audio (the AudioContext's state: a
// browser may hold the sound "suspended" until the page is touched), data-alarms-pending
// and data-alarm-feed ("on" while the live feed is connected).
"use strict";
(function () {
  const banner = document.getElementById("alarm-banner");
  if (!banner) return;
  const body = document.body;
  const csrf = body.dataset.csrf || "";
  const page = body.dataset.page || "";
  const list = document.getElementById("alarm-banner-list");
  const mute = document.getElementById("alarm-mute");
  const BEEP_EVERY_MS = 4000;
  let pending = [];
  const announced = new Set(); // alarms this page has sounded for
  let muted = false;
  let audio = null;
  let timer = null;

  // ---- sound ---------------------------------------------------------------------------
  function showAudio() { body.dataset.alarmAudio = audio ? audio.state : "none"; }
  function tone(at, frequency) {
    const osc = audio.createOscillator();
    const gain = audio.createGain();
    osc.type = "square";
    osc.frequency.setValueAtTime(frequency, at);
    gain.gain.setValueAtTime(0.0001, at);
    gain.gain.exponentialRampToValueAtTime(0.25, at + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, at + 0.22);
    osc.connect(gain).connect(audio.destination);
    osc.start(at);
    osc.stop(at + 0.25);
  }
  function pattern() {
    if (!audio) return;
    if (audio.state === "suspended") audio.resume().catch(() => {});
    const start = audio.currentTime + 0.05;
    [880, 660, 880].forEach((f, i) => tone(start + i * 0.3, f));
    body.dataset.alarmBeeps = String(Number(body.dataset.alarmBeeps || "0") + 1);
    showAudio();
  }
  function startSound() {
    if (timer) return;
    if (!audio) {
      const Context = window.AudioContext || window.webkitAudioContext;
      if (!Context) return;
      audio = new Context();
      audio.addEventListener("statechange", showAudio);
    }
    body.dataset.alarmSound = "on";
    pattern();
    timer = setInterval(pattern, BEEP_EVERY_MS);
  }
  function stopSound() {
    if (timer) clearInterval(timer);
    timer = null;
    body.dataset.alarmSound = "off";
  }
  // A browser that held the sound back lets it play once the person touches the page.
  ["keydown", "pointerdown"].forEach((type) => document.addEventListener(type, () => {
    if (audio && audio.state === "suspended") audio.resume().then(showAudio).catch(() => {});
  }, true));

  // ---- banner --------------------------------------------------------------------------
  function item(alarm) {
    const li = document.createElement("li");
    li.dataset.alarm = String(alarm.id);
    const what = document.createElement("strong");
    what.textContent = `#${alarm.number} ${alarm.words}`;
    const where = document.createElement("span");
    const zone = alarm.zone ? ` · ${banner.dataset.zone || "Zona"} ${alarm.zone}` : "";
    where.textContent = ` · ${alarm.site}${alarm.address ? ` · ${alarm.address}` : ""}${zone} `;
    const since = document.createElement("span");
    since.className = "num";
    since.dataset.since = alarm.at;
    const take = document.createElement("button");
    take.type = "button";
    take.className = "alarm-take";
    take.textContent = banner.dataset.take || "Tomar";
    take.addEventListener("click", () => takeAlarm(alarm.id));
    const open = document.createElement("a");
    open.href = `/reports/${alarm.id}`;
    open.textContent = banner.dataset.open || "Abrir";
    li.append(what, where, since, " ", take, " ", open);
    return li;
  }
  function render() {
    list.replaceChildren(...pending.map(item));
    banner.hidden = pending.length === 0;
    body.dataset.alarmsPending = String(pending.length);
  }

  async function refresh(board = true) {
    const r = await fetch("/api/alarms", { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (!r.ok) return null;
    const d = await r.json();
    pending = d.alarms || [];
    const fresh = pending.filter((a) => !announced.has(a.id));
    fresh.forEach((a) => announced.add(a.id));
    if (fresh.length) muted = false; // a new alarm sounds even where an older one was muted
    render();
    if (pending.length && !muted) startSound(); else stopSound();
    if (board && page === "alarms") refreshBoard();
    return d;
  }

  async function refreshBoard() {
    const board = document.getElementById("alarm-board");
    if (!board) return;
    const r = await fetch("/alarms/rows", { credentials: "same-origin", headers: { Accept: "text/html" } });
    if (!r.ok) return;
    board.innerHTML = await r.text(); // our own server-rendered, escaped fragment
    const count = document.getElementById("alarm-count");
    const table = document.getElementById("alarm-list");
    if (count && table) count.textContent = table.dataset.count || "0";
  }

  async function takeAlarm(id) {
    const r = await fetch(`/alarms/${id}/take`, {
      method: "POST", credentials: "same-origin",
      headers: { "X-Requested-With": "fetch", "X-CSRF-Token": csrf },
    });
    if (!r.ok) {
      const d = await r.json().catch(() => ({}));
      alert(d.error || r.statusText);
      return;
    }
    pending = pending.filter((a) => a.id !== id);
    render();
    if (!pending.length) stopSound();
    location.href = `/reports/${id}`;
  }

  mute.addEventListener("click", () => { muted = true; stopSound(); });
  document.addEventListener("keydown", (e) => {
    if (e.key !== "t" || e.ctrlKey || e.metaKey || e.altKey || !pending.length) return;
    const el = e.target;
    if (el && (el.tagName === "INPUT" || el.tagName === "TEXTAREA" || el.tagName === "SELECT" || el.isContentEditable)) return;
    e.preventDefault();
    takeAlarm(pending[0].id);
  });
  // The board's own take buttons go through the same path (one request, then the report).
  document.addEventListener("submit", (e) => {
    const form = e.target.closest && e.target.closest("form.take-form");
    if (!form) return;
    e.preventDefault();
    const id = Number((form.getAttribute("action").match(/\/alarms\/(\d+)\/take/) || [])[1]);
    if (id) takeAlarm(id);
  });

  // ---- the live feed -------------------------------------------------------------------
  let soon = null;
  function schedule() {
    if (soon) return;
    soon = setTimeout(() => { soon = null; refresh(); }, 150);
  }
  function concerns(d) {
    if (d.kind === "alarm.raised") return true;
    if (d.kind === "report.opened") return Boolean(d.data && d.data.channel === "pos");
    if (d.kind && d.kind.startsWith("alarm.")) return page === "alarms";
    if (d.kind === "report.state_changed" || d.kind === "report.handed_over") {
      return pending.some((a) => a.id === d.report) || page === "alarms";
    }
    return false;
  }
  refresh(false).then((d) => {
    const after = d && d.last_event !== undefined ? `?after=${d.last_event}` : "";
    const source = new EventSource(`/events${after}`);
    source.addEventListener("change", (e) => {
      let d2 = {};
      try { d2 = JSON.parse(e.data); } catch (_) { return; }
      if (concerns(d2)) schedule();
    });
    // After a drop the stream resumes from Last-Event-ID; read the list again anyway.
    let opened = false;
    source.addEventListener("open", () => {
      body.dataset.alarmFeed = "on";
      if (opened) schedule();
      opened = true;
    });
    source.addEventListener("error", () => { body.dataset.alarmFeed = "off"; });
  }).catch(() => {});
})();
