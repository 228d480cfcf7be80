// samp.js — a minimal SAMP Web Profile client (IVOA SAMP 1.3, section 5): register
// with the hub on this machine (http://localhost:21012/), send a VOTable by URL
// with table.load.votable to every client (TOPCAT, Aladin), unregister.
"use strict";
(function () {
  const HUB = "http://localhost:21012/";

  function encode(v) {
    if (Array.isArray(v)) return "<value><array><data>" + v.map(encode).join("") + "</data></array></value>";
    if (v !== null && typeof v === "object")
      return "<value><struct>" + Object.keys(v).map(k => `<member><name>${xml(k)}</name>${encode(v[k])}</member>`).join("") + "</struct></value>";
    return `<value><string>${xml(String(v))}</string></value>`;
  }
  function xml(s) { return s.replace(/[&<>]/g, c => ({"&": "&amp;", "<": "&lt;", ">": "&gt;"}[c])); }
  function decode(node) {
    const v = node.firstElementChild;
    if (!v) return node.textContent;
    switch (v.tagName) {
      case "struct": {
        const out = {};
        for (const m of v.children) out[m.querySelector("name").textContent] = decode(m.querySelector("value"));
        return out;
      }
      case "array": return Array.from(v.querySelector("data").children).map(decode);
      default: return v.textContent;
    }
  }
  async function call(method, params) {
    const body = `<?xml version="1.0"?><methodCall><methodName>${method}</methodName><params>` +
      params.map(p => `<param>${encode(p)}</param>`).join("") + "</params></methodCall>";
    const r = await fetch(HUB, {method: "POST", headers: {"Content-Type": "text/xml"}, body});
    const doc = new DOMParser().parseFromString(await r.text(), "text/xml");
    const fault = doc.querySelector("fault");
    if (fault) throw new Error(JSON.stringify(decode(fault.querySelector("value").parentNode)));
    const v = doc.querySelector("params > param > value");
    return v ? decode(v) : null;
  }

  async function sendTable(url, name) {
    const reg = await call("samp.webhub.register", [{"samp.name": "xmmdb"}]);
    const key = reg["samp.private-key"];
    try {
      await call("samp.webhub.declareMetadata", [key, {"samp.name": "xmmdb", "samp.description.text": "XMM-Newton archive (xmmdb web)"}]);
      await call("samp.webhub.notifyAll", [key, {"samp.mtype": "table.load.votable",
        "samp.params": {"url": url, "table-id": url, "name": name || "xmmdb"}}]);
    } finally {
      await call("samp.webhub.unregister", [key]).catch(() => {});
    }
  }

  window.XSamp = {call, sendTable};
})();
