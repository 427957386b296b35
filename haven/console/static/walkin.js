// haven console, the walk-in form: scan a leaflet's QR code with the phone's camera where the
// browser has a BarcodeDetector; elsewhere the code is typed. No library.
"use strict";
(function () {
  var button = document.getElementById("scan");
  var video = document.getElementById("scanner");
  var field = document.getElementById("leaflet");
  if (!button || !video || !field || !("BarcodeDetector" in window)) return;
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) return;
  var stream = null;
  var stop = function () {
    if (stream) stream.getTracks().forEach(function (t) { t.stop(); });
    stream = null;
    video.hidden = true;
  };
  button.hidden = false;
  button.addEventListener("click", function () {
    if (stream) { stop(); return; }
    var detector = new window.BarcodeDetector({ formats: ["qr_code"] });
    navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false })
      .then(function (s) {
        stream = s;
        video.srcObject = s;
        video.hidden = false;
        return video.play();
      })
      .then(function () {
        var look = function () {
          if (!stream) return;
          detector.detect(video).then(function (codes) {
            if (codes.length && codes[0].rawValue) {
              field.value = String(codes[0].rawValue).slice(0, 300);
              stop();
              field.dispatchEvent(new Event("change"));
              return;
            }
            window.setTimeout(look, 250);
          }).catch(function () { window.setTimeout(look, 500); });
        };
        look();
      })
      .catch(function () { stop(); field.focus(); });
  });
})();
