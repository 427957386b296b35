// haven console: live updates of a case's conversation, and the print button.
// No inline script anywhere (the CSP forbids it); no library.
"use strict";
(function () {
  var box = document.getElementById("conversation");
  if (box) {
    var latest = parseInt(box.getAttribute("data-latest") || "0", 10);
    var busy = false;
    box.scrollTop = box.scrollHeight;
    var poll = function () {
      if (busy || document.hidden) return;
      busy = true;
      fetch(box.getAttribute("data-poll"), { credentials: "same-origin", cache: "no-store" })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (data) {
          if (!data || data.latest <= latest) return null;
          return fetch(box.getAttribute("data-fetch") + "?after=" + latest, {
            credentials: "same-origin", cache: "no-store"
          }).then(function (r) {
            if (!r.ok) return;
            var newest = parseInt(r.headers.get("X-Latest") || "0", 10);
            return r.text().then(function (html) {
              var holder = document.createElement("div");
              holder.innerHTML = html;
              while (holder.firstElementChild) {
                var el = holder.firstElementChild;
                el.classList.add("fresh");
                box.appendChild(el);
              }
              if (newest > latest) latest = newest;
              box.setAttribute("data-latest", String(latest));
              box.scrollTop = box.scrollHeight;
            });
          });
        })
        .catch(function () {})
        .then(function () { busy = false; });
    };
    window.setInterval(poll, 3000);
  }
  // A voice note of a call: recorded in the browser, capped, uploaded to the case.
  var notes = document.querySelectorAll("form.voice-note");
  Array.prototype.forEach.call(notes, function (form) {
    var start = form.querySelector("button.record");
    var stop = form.querySelector("button.stop");
    var status = form.querySelector(".status");
    var maxSeconds = parseInt(form.getAttribute("data-max-seconds") || "60", 10);
    var maxBytes = parseInt(form.getAttribute("data-max-bytes") || "240000", 10);
    var recorder = null, chunks = [], began = 0, timer = null;
    var say = function (key) { status.textContent = form.getAttribute("data-" + key) || ""; };
    var upload = function () {
      var blob = new Blob(chunks, { type: recorder.mimeType || "audio/webm" });
      var seconds = Math.max(1, Math.round((Date.now() - began) / 1000));
      if (blob.size > maxBytes) { say("too-large"); return; }
      var data = new FormData();
      data.append("csrf", form.querySelector("input[name=csrf]").value);
      data.append("seconds", String(Math.min(seconds, maxSeconds)));
      data.append("audio", blob, "note.webm");
      say("sending");
      fetch(form.getAttribute("action"), { method: "POST", body: data, credentials: "same-origin" })
        .then(function (r) {
          if (!r.ok) { say("failed"); return; }
          say("saved");
          window.location.assign(form.getAttribute("data-case"));
        })
        .catch(function () { say("failed"); });
    };
    start.addEventListener("click", function () {
      if (!navigator.mediaDevices || !window.MediaRecorder) { say("failed"); return; }
      navigator.mediaDevices.getUserMedia({ audio: true }).then(function (stream) {
        var options = { audioBitsPerSecond: 24000 };
        if (MediaRecorder.isTypeSupported("audio/webm;codecs=opus")) {
          options.mimeType = "audio/webm;codecs=opus";
        }
        recorder = new MediaRecorder(stream, options);
        chunks = [];
        recorder.ondataavailable = function (e) { if (e.data.size) chunks.push(e.data); };
        recorder.onstop = function () {
          window.clearTimeout(timer);
          stream.getTracks().forEach(function (t) { t.stop(); });
          start.disabled = false; stop.disabled = true;
          upload();
        };
        began = Date.now();
        recorder.start(1000);
        start.disabled = true; stop.disabled = false;
        say("recording");
        timer = window.setTimeout(function () { recorder.stop(); }, maxSeconds * 1000);
      }).catch(function () { say("failed"); });
    });
    stop.addEventListener("click", function () {
      if (recorder && recorder.state === "recording") recorder.stop();
    });
  });
  var print = document.getElementById("print");
  if (print) print.addEventListener("click", function () { window.print(); });
})();
