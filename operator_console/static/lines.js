// alerta-ivr admin pages for lines: uploads sent as the request body, imports, confirmations.
"use strict";
(function () {
  const csrf = document.body.dataset.csrf || "";

  async function send(url, file) {
    const r = await fetch(url, {
      method: "POST", body: file, credentials: "same-origin",
      headers: { "X-CSRF-Token": csrf, "X-Filename": encodeURIComponent(file.name).slice(0, 80),
                 "Content-Type": "application/octet-stream", Accept: "application/json" },
    });
    let answer = {};
    try { answer = await r.json(); } catch (e) { answer = { error: r.status + " " + r.statusText }; }
    if (!r.ok && !answer.error) answer.error = r.status + " " + r.statusText;
    return answer;
  }

  function say(near, text, bad) {
    let out = near.parentElement.querySelector(".upload-result");
    if (!out) {
      out = document.createElement("span");
      out.className = "upload-result";
      out.setAttribute("role", "status");
      near.after(out);
    }
    out.textContent = text;
    out.classList.toggle("error", !!bad);
  }

  document.querySelectorAll("input.upload[data-url]").forEach((input) => {
    input.addEventListener("change", async () => {
      const file = input.files && input.files[0];
      if (!file) return;
      say(input, "…", false);
      const answer = await send(input.dataset.url, file);
      if (answer.error) { say(input, answer.error, true); return; }
      const row = input.closest("tr");
      location.assign(location.pathname + "?done=" + encodeURIComponent(answer.done) +
                      "&at=" + Date.now() + (row ? "#" + row.id : ""));
    });
  });

  const importFile = document.getElementById("import-file");
  const importGo = document.getElementById("import-go");
  if (importFile && importGo) {
    importGo.addEventListener("click", async () => {
      const file = importFile.files && importFile.files[0];
      const out = document.getElementById("import-result");
      if (!file) { out.textContent = "?"; return; }
      out.textContent = "…";
      const answer = await send("/admin/lines/import", file);
      if (answer.error) { out.textContent = answer.error; out.classList.add("error"); return; }
      location.assign("/admin/lines/" + answer.line);
    });
  }

  // A recording by phone in progress: say how it goes; reload once it is kept.
  const recording = document.getElementById("recording");
  if (recording) {
    const token = recording.dataset.token;
    const poll = async () => {
      const r = await fetch("/admin/lines/recordings/" + token, { credentials: "same-origin",
                                                                  headers: { Accept: "application/json" } });
      if (!r.ok) { recording.textContent = r.status + " " + r.statusText; return; }
      const s = await r.json();
      recording.textContent = s.prompt + " (" + s.language + "): " + s.state +
        (s.takes ? " · " + s.takes : "") + (s.detail ? " · " + s.detail : "");
      recording.dataset.state = s.state;
      if (s.state === "kept") {
        location.assign(location.pathname + "?done=" + encodeURIComponent(recording.textContent) +
                        "&at=" + Date.now() + "#p-" + s.prompt);
      } else if (s.state === "ringing" || s.state === "recording") {
        setTimeout(poll, 1000);
      } else {
        recording.classList.add("error");
      }
    };
    poll();
  }

  document.querySelectorAll("form[data-confirm]").forEach((form) => {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  });
})();
