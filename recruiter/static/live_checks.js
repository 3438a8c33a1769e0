/* Checks while writing: the letter checks on a note or a differentiator, as one types.

   Each [data-live-findings] area names its box (data-for) and the endpoint (data-url,
   recruiter/views/live_checks.py). 400 ms after the last keystroke the box's text is posted
   with the page's CSRF token in a header, as the notes autosave does, and the findings are
   shown in the area: a list quoting the words, and a copy of the text with the words marked.
   Typing never waits for it, focus never moves, and a check that fails says nothing: saving
   does not depend on it. Without this file the area shows the saved text's findings. */
(function () {
  "use strict";

  var areas = document.querySelectorAll("[data-live-findings]");
  if (!areas.length || !window.fetch || !window.JSON) { return; }

  var DEBOUNCE_MS = 400;
  var csrfMeta = document.querySelector('meta[name="csrf-token"]');
  var csrf = csrfMeta ? csrfMeta.getAttribute("content") : "";

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  /* Spans worth marking: not the whole text (a short or copied note is about all of it). */
  function marked(text, findings) {
    var first = text.search(/\S/);
    var last = text.replace(/\s+$/, "").length;
    return findings.filter(function (f) {
      return f.start !== null && f.end !== null && f.end > f.start &&
        !(f.start <= first && f.end >= last);
    });
  }

  /* The text with each marked span in a <mark>; an error's colour wins where spans overlap. */
  function preview(text, spans) {
    var node = el("p", "live-findings-preview");
    node.setAttribute("aria-hidden", "true");  // the list below says the same in words
    var cuts = [0, text.length];
    spans.forEach(function (f) { cuts.push(f.start, f.end); });
    cuts = cuts.filter(function (c, i) { return cuts.indexOf(c) === i; })
      .sort(function (a, b) { return a - b; });
    for (var i = 0; i < cuts.length - 1; i += 1) {
      var from = cuts[i], to = cuts[i + 1];
      var over = spans.filter(function (f) { return f.start <= from && to <= f.end; });
      var piece = text.slice(from, to);
      if (!over.length) { node.appendChild(document.createTextNode(piece)); continue; }
      var error = over.some(function (f) { return f.severity === "error"; });
      node.appendChild(el("mark", "finding-span" + (error ? " error" : ""), piece));
    }
    return node;
  }

  function item(f, whole) {
    var li = el("li", "finding finding-" + f.severity);
    li.setAttribute("data-check", f.id);
    li.appendChild(el("span", "badge badge-" + f.severity, f.severity));
    var quote = f.words && !whole && f.message.indexOf(f.words) === -1;
    li.appendChild(document.createTextNode(" " + (quote ? "“" + f.words + "”: " : "") + f.message));
    return li;
  }

  function head(area, data) {
    var p = el("p", "live-findings-head");
    p.appendChild(el("strong", "", "The letter checks, as you write: "));
    var blocks = data.errors ? ": " + (area.getAttribute("data-blocks") ||
      "the letter cannot be approved until it changes") : "";
    p.appendChild(document.createTextNode(data.summary + blocks + "."));
    return p;
  }

  function signature(findings) {
    return JSON.stringify(findings.map(function (f) {
      return [f.id, f.severity, f.message, f.words];
    }));
  }

  function render(state, text, data) {
    var area = state.area;
    var findings = data.findings || [];
    var spans = marked(text, findings);
    var said = signature(findings);
    if (said === state.said) {  // the same findings: only the marked copy follows the text
      var old = area.querySelector(".live-findings-preview");
      if (old) { old.remove(); }
      if (spans.length) { area.insertBefore(preview(text, spans), area.querySelector(".findings")); }
      return;
    }
    var had = state.said !== null && state.said !== "[]";
    state.said = said;
    area.textContent = "";
    if (!findings.length) {
      if (had) {
        area.appendChild(el("p", "live-findings-clear", "The letter checks find nothing here now."));
      }
      return;
    }
    area.appendChild(head(area, data));
    if (spans.length) { area.appendChild(preview(text, spans)); }
    var list = el("ul", "findings");
    findings.forEach(function (f) {
      list.appendChild(item(f, spans.indexOf(f) === -1));
    });
    area.appendChild(list);
  }

  /* quiet: the first check of a page's boxes, not announced (nobody typed anything). */
  function check(state, quiet) {
    var text = state.box.value;
    if (text === state.checked) { return; }
    state.seq += 1;
    var seq = state.seq;
    if (state.controller) { state.controller.abort(); }
    state.controller = window.AbortController ? new AbortController() : null;
    var payload = { text: text };
    var application = state.area.getAttribute("data-application");
    var language = state.area.getAttribute("data-language");
    if (application) { payload.application_id = Number(application); }
    if (language) { payload.language = language; }
    fetch(state.area.getAttribute("data-url"), {
      method: "POST", credentials: "same-origin", body: JSON.stringify(payload),
      signal: state.controller ? state.controller.signal : undefined,
      headers: { "Accept": "application/json", "Content-Type": "application/json",
                 "X-CSRFToken": csrf }
    }).then(function (response) {
      var type = response.headers.get("Content-Type") || "";
      return response.ok && type.indexOf("application/json") !== -1 ? response.json() : null;
    }).then(function (data) {
      if (!data || seq !== state.seq) { return; }  // refused, or a newer check is coming
      state.checked = text;
      if (quiet) { state.area.setAttribute("aria-live", "off"); }
      render(state, text, data);
      if (quiet) {
        setTimeout(function () { state.area.setAttribute("aria-live", "polite"); }, 0);
      }
    }).catch(function () { /* offline or aborted: the next keystroke tries again */ });
  }

  Array.prototype.forEach.call(areas, function (area) {
    var box = document.getElementById(area.getAttribute("data-for"));
    if (!box || !area.getAttribute("data-url")) { return; }
    // said: what the area shows; the server may have filled it with the saved text's findings.
    var state = { area: area, box: box, timer: null, seq: 0, controller: null,
                  checked: box.value, said: area.children.length ? "served" : null };
    box.addEventListener("input", function () {
      clearTimeout(state.timer);
      state.timer = setTimeout(function () { check(state); }, DEBOUNCE_MS);
    });
    if (area.hasAttribute("data-check-on-load")) {  // a few boxes: each gets its own findings
      state.checked = null;
      check(state, true);
    }
  });
}());
