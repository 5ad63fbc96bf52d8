// alerta-ivr operator console: live updates, keyboard, clocks. No dependencies.
"use strict";
(function () {
  const body = document.body;
  const page = body.dataset.page || "";
  const csrf = body.dataset.csrf || "";
  const lang = body.dataset.lang || "es";
  const T = lang === "en"
    ? { live: "live", offline: "offline", overdue: "overdue", left: "left", ago: "ago",
        ami: { up: "up", down: "down", connecting: "connecting", disabled: "off" } }
    : { live: "en vivo", offline: "sin conexión", overdue: "vencido", left: "quedan", ago: "hace",
        ami: { up: "conectada", down: "caída", connecting: "conectando", disabled: "desactivada" } };

  // ---- clocks: time since received, time left to call back --------------------------
  function span(seconds) {
    const s = Math.abs(Math.round(seconds));
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    return h ? `${h}h ${String(m).padStart(2, "0")}m` : `${m}:${String(r).padStart(2, "0")}`;
  }
  function tick() {
    const now = Date.now();
    document.querySelectorAll("[data-since]").forEach((el) => {
      const t = Date.parse(el.dataset.since);
      if (!isNaN(t)) el.textContent = `${T.ago} ${span((now - t) / 1000)}`;
    });
    document.querySelectorAll("[data-due]").forEach((el) => {
      const t = Date.parse(el.dataset.due);
      if (isNaN(t)) return;
      const left = (t - now) / 1000;
      el.textContent = left < 0 ? `${T.overdue} ${span(left)}` : `${T.left} ${span(left)}`;
      el.classList.toggle("late", left < 0);
      const row = el.closest("tr");
      if (row) row.classList.toggle("overdue", left < 0);
    });
  }
  tick();
  setInterval(tick, 1000);

  // ---- the live feed (server-sent events, resumes with Last-Event-ID) ---------------
  const live = document.getElementById("live");
  const ami = document.getElementById("ami");
  const amiInline = document.getElementById("ami-inline");
  let refreshTimer = null;
  function schedule(fn) {
    if (refreshTimer) return;
    refreshTimer = setTimeout(() => { refreshTimer = null; fn(); }, 120);
  }
  async function fetchInto(url, target) {
    const r = await fetch(url, { headers: { Accept: "text/html" }, credentials: "same-origin" });
    if (r.ok && target) {
      target.innerHTML = await r.text();
      tick();
      return true;
    }
    return false;
  }
  async function refreshQueue() {
    const tbody = document.getElementById("queue-rows");
    const selected = current() && current().dataset.id;
    const before = new Set([...document.querySelectorAll("#queue-rows tr[data-id]")].map((r) => r.dataset.id));
    if (await fetchInto("/queue/rows", tbody)) {
      const rows = [...document.querySelectorAll("#queue-rows tr[data-id]")];
      rows.forEach((r) => { if (!before.has(r.dataset.id)) r.classList.add("new"); });
      const keep = rows.find((r) => r.dataset.id === selected);
      select(keep || rows[0], false);
      const count = document.getElementById("open-number");
      if (count) count.textContent = String(rows.length);
    }
  }
  async function refreshReport() {
    const part = document.getElementById("live-part");
    const id = body.dataset.report;
    if (part && id) {
      const focused = document.activeElement && document.activeElement.id;
      // Whatever the operator is typing (unit, note, duplicate of) survives the refresh.
      const fields = "input:not([type=hidden]), textarea";
      const key = (el) => `${el.form ? el.form.id : ""}/${el.name}`;
      const drafts = new Map();
      part.querySelectorAll(fields).forEach((el) => { if (el.value) drafts.set(key(el), el.value); });
      await fetchInto(`/reports/${id}/live`, part);
      part.querySelectorAll(fields).forEach((el) => {
        if (drafts.has(key(el))) el.value = drafts.get(key(el));
      });
      if (focused && document.getElementById(focused)) document.getElementById(focused).focus();
      bindForms();
    }
  }
  function showAmi(state, detail) {
    [ami, amiInline].forEach((el) => {
      if (!el) return;
      el.textContent = `AMI ${T.ami[state] || state}`;
      el.title = detail || "";
      el.className = `pill ${state === "up" ? "on" : state === "disabled" ? "" : "bad"}`;
    });
  }
  const streams = page === "queue" || page === "report" || page === "supervision" || page === "search";
  if (live && !streams) {
    // No live feed on this page: say nothing rather than "offline", and ask for the link once.
    live.hidden = true;
    fetch("/api/ami", { credentials: "same-origin" }).then((r) => (r.ok ? r.json() : null))
      .then((d) => { if (d) showAmi(d.state, d.detail); }).catch(() => {});
  }
  if (live && streams) {
    const after = body.dataset.lastEvent || "";
    const source = new EventSource(`/events${after ? `?after=${after}` : ""}`);
    source.onopen = () => { live.textContent = T.live; live.className = "pill on"; };
    source.onerror = () => { live.textContent = T.offline; live.className = "pill bad"; };
    source.addEventListener("ami", (e) => {
      try { const d = JSON.parse(e.data); showAmi(d.state, d.detail); } catch (_) { /* ignore */ }
    });
    source.addEventListener("change", (e) => {
      let d = {};
      try { d = JSON.parse(e.data); } catch (_) { return; }
      if (page === "queue") schedule(refreshQueue);
      else if (page === "supervision") schedule(() => location.reload());
      else if (page === "report" && String(d.report) === body.dataset.report) schedule(refreshReport);
    });
  }

  // ---- forms: callbacks by fetch (one click, one call) --------------------------------
  function bindForms() {
    const form = document.getElementById("callback-form");
    if (form && !form.dataset.bound) {
      form.dataset.bound = "1";
      form.addEventListener("submit", async (e) => {
        e.preventDefault();
        const button = document.getElementById("callback-button");
        if (button.disabled) return;
        button.disabled = true;
        try {
          const r = await fetch(form.action, {
            method: "POST", body: new URLSearchParams(new FormData(form)),
            headers: { "X-Requested-With": "fetch", "X-CSRF-Token": csrf }, credentials: "same-origin",
          });
          const d = await r.json().catch(() => ({}));
          if (!r.ok) alert(d.error || r.statusText);
          // A new attempt needs a new key: the old one names the attempt just made.
          form.querySelector("[name=request_key]").value = crypto.randomUUID();
          await refreshReport();
        } finally {
          button.disabled = false;
        }
      });
    }
  }
  bindForms();

  // ---- waveform overviews: progress follows the player; a click seeks -------------------
  document.querySelectorAll("svg.wave[data-player]").forEach((svg) => {
    const player = document.getElementById(svg.dataset.player);
    const played = svg.querySelector("rect.played");
    const width = svg.viewBox.baseVal.width;
    if (!player || !played) return;
    const draw = () => {
      const d = player.duration;
      played.setAttribute("width", d > 0 ? String((player.currentTime / d) * width) : "0");
    };
    player.addEventListener("timeupdate", draw);
    player.addEventListener("seeked", draw);
    svg.addEventListener("click", (e) => {
      const box = svg.getBoundingClientRect();
      const share = Math.min(1, Math.max(0, (e.clientX - box.left) / box.width));
      const seek = () => { if (player.duration > 0) player.currentTime = share * player.duration; };
      if (player.readyState >= 1) seek();
      else { player.addEventListener("loadedmetadata", seek, { once: true }); player.play(); }
    });
  });

  // ---- keyboard ------------------------------------------------------------------------
  function rows() { return [...document.querySelectorAll("#queue-rows tr[data-id]")]; }
  function current() { return document.querySelector("#queue-rows tr.selected"); }
  function select(row, scroll = true) {
    rows().forEach((r) => r.classList.remove("selected"));
    if (!row) return;
    row.classList.add("selected");
    if (scroll) row.scrollIntoView({ block: "nearest" });
  }
  if (rows().length) select(rows()[0], false);
  document.addEventListener("click", (e) => {
    const row = e.target.closest && e.target.closest("#queue-rows tr[data-id]");
    if (row && !e.target.closest("a")) location.href = row.dataset.href;
  });
  function typing(el) {
    return el && (el.tagName === "INPUT" || el.tagName === "TEXTAREA" || el.tagName === "SELECT" || el.isContentEditable);
  }
  function pressState(e, state, focusId) {
    const btn = document.querySelector(`#state-form button[data-state="${state}"]`);
    if (!btn) return;
    const field = focusId && document.getElementById(focusId);
    if (field && !field.value) {
      e.preventDefault();  // the key moves the focus; it is not typed into the field
      field.focus();
      return;
    }
    btn.click();
  }
  document.addEventListener("keydown", (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.key === "Escape") {
      if (typing(document.activeElement)) { document.activeElement.blur(); return; }
      if (page !== "queue") location.href = "/";
      return;
    }
    if (typing(e.target)) return;
    const list = rows();
    const sel = current();
    const i = sel ? list.indexOf(sel) : -1;
    switch (e.key) {
      case "j": case "ArrowDown":
        if (list.length) { select(list[Math.min(list.length - 1, i + 1)]); e.preventDefault(); }
        break;
      case "k": case "ArrowUp":
        if (list.length) { select(list[Math.max(0, i - 1)]); e.preventDefault(); }
        break;
      case "Enter": case "o":
        if (sel) location.href = sel.dataset.href;
        break;
      case " ": {
        const player = document.getElementById("player");
        if (e.target.tagName === "AUDIO") break;  // its own controls take Space; not twice
        if (player) { e.preventDefault(); if (player.paused) player.play(); else player.pause(); }
        break;
      }
      case "c": { const b = document.getElementById("callback-button"); if (b) b.click(); break; }
      case "a": pressState(e, "acknowledged"); break;
      case "d": pressState(e, "dispatched", "unit"); break;
      case "s": pressState(e, "on_scene"); break;
      case "r": pressState(e, "resolved"); break;
      case "n": { const n = document.getElementById("note"); if (n) { e.preventDefault(); n.focus(); } break; }
      case "/": e.preventDefault(); location.href = "/reports"; break;
      default: break;
    }
  });
  document.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && e.target && e.target.id === "unit" && e.target.value) {
      e.preventDefault();
      const b = document.querySelector('#state-form button[data-state="dispatched"]');
      if (b) b.click();
    }
  }, true);
  if (page === "search") { const w = document.getElementById("words"); if (w && !w.value) w.focus(); }
})();
