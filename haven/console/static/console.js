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
  var print = document.getElementById("print");
  if (print) print.addEventListener("click", function () { window.print(); });
})();
