// BBX pages: small helpers, no framework. The server checks everything again.
(function () {
  "use strict";
  var WEIGHTS = [9, 8, 7, 6, 5, 4, 3, 2, -1];
  var TEXTS = null;

  // A text in the page's language (bbx.api.language.js_texts), {name} filled from params.
  function T(id, params) {
    if (TEXTS === null) {
      var node = document.getElementById("bbx-texts");
      try { TEXTS = node ? JSON.parse(node.textContent) : {}; } catch (e) { TEXTS = {}; }
    }
    return (TEXTS[id] || id).replace(/\{(\w+)\}/g, function (m, k) {
      return params && k in params ? String(params[k]) : m;
    });
  }

  // The same rule as bbx.domain.bsn.check (11-test; 8 digits: a stripped leading zero).
  function checkBsn(raw) {
    var value = (raw || "").trim().replace(/[\s.\-]/g, "");
    if (!value) return { error: T("empty") };
    if (!/^[0-9]+$/.test(value)) return { error: T("digits only") };
    if (value.length === 8) {
      return passes("0" + value) ? { bsn: "0" + value, repaired: true }
        : { error: T("8 digits, fails the 11-test with a leading zero too") };
    }
    if (value.length !== 9) return { error: T("must have 9 digits, found {n}", { n: value.length }) };
    if (value === "000000000") return { error: T("not a BSN") };
    if (!passes(value)) return { error: T("fails the 11-test (typing error?)") };
    return { bsn: value };
  }
  function passes(d) {
    var sum = 0;
    for (var i = 0; i < 9; i++) sum += WEIGHTS[i] * (d.charCodeAt(i) - 48);
    return d !== "000000000" && sum % 11 === 0;
  }
  function splitBsns(text) {
    return text.replace(/;/g, "\n").replace(/,/g, "\n").split(/\r?\n/)
      .map(function (v) { return v.trim(); }).filter(function (v) { return v; });
  }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text) e.textContent = text;
    return e;
  }

  function bsnListStatus(area, out) {
    var values = splitBsns(area.value), seen = {}, bad = [], ok = 0;
    values.forEach(function (v, i) {
      var r = checkBsn(v);
      if (r.error) bad.push(T("number {i} ({value}): {error}", { i: i + 1, value: v, error: r.error }));
      else if (seen[r.bsn]) bad.push(T("number {i}: the same BSN as number {first}", { i: i + 1, first: seen[r.bsn] }));
      else { seen[r.bsn] = i + 1; ok++; }
    });
    out.textContent = "";
    if (!values.length) return;
    out.appendChild(el("span", "ok", ok === 1 ? T("1 valid BSN") : T("{n} valid BSNs", { n: ok })));
    if (bad.length) {
      out.appendChild(document.createTextNode(" · "));
      out.appendChild(el("span", "bad", T("{n} not valid:", { n: bad.length })));
      var list = el("ul", "bad");
      bad.slice(0, 20).forEach(function (b) { list.appendChild(el("li", "", b)); });
      if (bad.length > 20) list.appendChild(el("li", "", T("and {n} more", { n: bad.length - 20 })));
      out.appendChild(list);
    }
    area.setAttribute("aria-invalid", bad.length ? "true" : "false");
  }

  function textCounter(area, out, max) {
    var n = area.value.replace(/\r\n/g, "\n").replace(/\r/g, "\n").replace(/\n/g, "\r\n").length;
    out.textContent = !n ? "" : n > max ? T("{n} of {max} characters: too long", { n: n, max: max })
      : T("{n} of {max} characters", { n: n, max: max });
    out.classList.toggle("over", n > max);
  }

  function typeInfo(select, out, text) {
    var o = select.options[select.selectedIndex];
    out.textContent = "";
    if (!o || !o.value) return;
    out.appendChild(el("div", "", T("Subject: {subject}", { subject: o.getAttribute("data-subject") })));
    var att = o.getAttribute("data-attachments");
    if (att) out.appendChild(el("div", "", T("Standard PDFs: {pdfs}", { pdfs: att })));
    var std = o.getAttribute("data-standard-text");
    out.appendChild(el("div", "", std ? T("Standard text (used when you leave Text empty):") + "\n" + std
      : T("This message type has no standard text: write a text, or add a PDF.")));
    if (text) text.required = !std;
  }

  document.addEventListener("DOMContentLoaded", function () {
    var area = document.getElementById("bsns"), status = document.getElementById("bsn-status");
    if (area && status) {
      area.addEventListener("input", function () { bsnListStatus(area, status); });
      if (area.value) bsnListStatus(area, status);
    }
    var text = document.getElementById("text"), counter = document.getElementById("text-counter");
    if (text && counter) {
      text.addEventListener("input", function () { textCounter(text, counter, 4000); });
      textCounter(text, counter, 4000);
    }
    var select = document.getElementById("message_type"), info = document.getElementById("type-info");
    if (select && info) {
      select.addEventListener("change", function () { typeInfo(select, info, text); });
      typeInfo(select, info, text);
    }
    var single = document.querySelector("[data-bsn-check]");
    if (single) {
      var target = document.getElementById(single.getAttribute("data-bsn-check"));
      single.addEventListener("input", function () {
        var r = checkBsn(single.value);
        target.textContent = !single.value.trim() ? "" : r.error ? T("Not valid: {error}", { error: r.error })
          : r.repaired ? T("Valid BSN (leading zero restored)") : T("Valid BSN");
        target.className = "bsn-status " + (r.error ? "bad" : "ok");
      });
    }
    var done = document.getElementById("done");
    if (done) done.focus();
  });
})();
