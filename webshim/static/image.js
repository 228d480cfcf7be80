// image.js — the X-ray image (xmm_image) in JS9, with the source marked when the page names one.
"use strict";
(function () {
  const link = document.getElementById("image-link");
  if (!link || !window.JS9) return;
  // the circle: the source's position, when the page gives one
  const ra = link.dataset.ra ? +link.dataset.ra : null, dec = link.dataset.dec ? +link.dataset.dec : null;
  const started = Date.now();
  function load() {
    // JS9 compiles its FITS module (WebAssembly) after the page loads: wait for it.
    if (!(JS9.inited && JS9.fits && JS9.fits.ready)) {
      if (Date.now() - started < 30000) setTimeout(load, 100);
      return;
    }
    JS9.Load(link.href, {colormap: "heat", scale: "log", zoom: "toFit", onload: im => {
      JS9.SetZoom("toFit", {display: im});
      // DS9 region syntax: a 15" circle at the catalogue position
      if (ra !== null) JS9.AddRegions(`icrs; circle(${ra},${dec},15") # color=#00ff66 text={source}`, {display: im});
      document.getElementById("JS9").dataset.ready = "1";
    }}, {display: "JS9"});
  }
  $(document).ready(load);
})();
