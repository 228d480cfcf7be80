// image.js — the X-ray image of the field (xmm_image) in JS9, with the source marked.
"use strict";
(function () {
  const link = document.getElementById("image-link");
  if (!link || !window.JS9) return;
  const sky = document.getElementById("aladin");
  const ra = sky ? +sky.dataset.ra : null, dec = sky ? +sky.dataset.dec : null;
  $(document).ready(() => {
    JS9.Load(link.href, {colormap: "heat", scale: "log", onload: im => {
      if (ra !== null) JS9.AddRegions({shape: "circle", ra: ra, dec: dec, wcssys: "icrs", r: 5,
                                       color: "#00ff66", text: "source"}, {display: im});
      document.getElementById("JS9").dataset.ready = "1";
    }}, {display: "JS9"});
  });
})();
