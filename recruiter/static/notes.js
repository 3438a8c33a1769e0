/* The notes page, enhanced: keyboard moves, autosave, and conflicts that lose nothing.
   Without this file every card is a plain form that posts and redirects back. */
(function () {
  "use strict";

  var list = document.querySelector("[data-notes]");
  if (!list || !window.fetch) { return; }

  var IDLE_MS = 800;
  var RETRY_MS = 5000;
  var csrfMeta = document.querySelector('meta[name="csrf-token"]');
  var csrf = csrfMeta ? csrfMeta.getAttribute("content") : "";
  var cards = [];

  function clean(text) { return text.replace(/\r\n/g, "\n").trim(); }

  function setStatus(card, state, message) {
    card.status.textContent = message;
    card.status.className = "note-status" + (state ? " is-" + state : "");
  }

  function isDirty(card) {
    return clean(card.area.value) !== clean(card.saved);
  }

  function updateProgress(written, total) {
    var w = document.querySelector("[data-written]");
    var t = document.querySelector("[data-total]");
    var bar = document.querySelector(".notes-bar progress");
    if (w) { w.textContent = written; }
    if (t) { t.textContent = total; }
    if (bar) { bar.max = total; bar.value = written; }
  }

  function formatWhen(iso) {
    if (!iso) { return ""; }
    var d = new Date(iso);
    return isNaN(d) ? "" : d.toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
  }

  function schedule(card, ms) {
    clearTimeout(card.timer);
    card.timer = setTimeout(function () { save(card); }, ms);
  }

  /* Save the textarea unless nothing changed; one request per note at a time. */
  function save(card, force) {
    clearTimeout(card.timer);
    if (card.conflict) { return Promise.resolve(); }  // the person chooses first
    if (!force && !isDirty(card)) { return card.inFlight || Promise.resolve(); }
    if (card.inFlight) { card.again = true; return card.inFlight; }
    var sent = card.area.value;
    var body = new URLSearchParams();
    body.set("csrf_token", csrf);
    body.set("note", sent);
    body.set("base_revision", card.revision.value);
    setStatus(card, "saving", "Saving…");
    card.inFlight = fetch(card.url, {
      method: "POST", body: body, credentials: "same-origin",
      headers: { "Accept": "application/json", "X-CSRFToken": csrf }
    }).then(function (response) {
      var type = response.headers.get("Content-Type") || "";
      if (type.indexOf("application/json") === -1) {
        var why = response.status === 400 ? "the page has expired; copy your text and reload"
          : "you may have been signed out; copy your text and reload";
        throw new Error(why);
      }
      return response.json().then(function (data) { return [response.status, data]; });
    }).then(function (result) {
      var status = result[0], data = result[1];
      if (status === 200) {
        card.saved = sent;
        card.revision.value = data.revision;
        updateProgress(data.progress_written, data.progress_total);
        if (card.meta) { card.meta.textContent = "Last saved by you, " + formatWhen(new Date().toISOString()); }
        // "Saved", or "Saved, with 2 warnings": what the letter checks say of the saved note.
        var message = data.message || "Saved";
        var state = data.severity === "error" ? "flagged" : data.severity ? "warning" : "saved";
        setStatus(card, state, isDirty(card) ? message + "; newer changes waiting…" : message);
      } else if (status === 409) {
        showConflict(card, data.theirs, card.area.value);
      } else {
        setStatus(card, "error", "Not saved: " + (data.error || "the server refused it") + ".");
      }
    }).catch(function (error) {
      var offline = error instanceof TypeError;
      setStatus(card, "error", "Not saved: " + (offline
        ? "no connection. Your text is still here; trying again shortly."
        : error.message + "."));
      if (offline) { schedule(card, RETRY_MS); }
    }).then(function () {
      card.inFlight = null;
      if (card.again) { card.again = false; return save(card); }
    });
    return card.inFlight;
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  function versionBox(title, meta, text, attr) {
    var box = el("section");
    box.appendChild(el("h3", "", title));
    box.appendChild(el("p", "small muted", meta));
    var pre = el("pre", "note-version", text);
    pre.setAttribute(attr, "");
    box.appendChild(pre);
    return box;
  }

  /* Both versions side by side; autosave pauses until the person picks one. */
  function showConflict(card, theirs, yours) {
    removeConflict(card);
    card.conflict = theirs;
    var who = theirs.updated_by ? " by " + theirs.updated_by : "";
    var when = theirs.updated_at ? ", " + formatWhen(theirs.updated_at) : "";
    if (card.meta) { card.meta.textContent = "Last saved" + who + when; }
    var panel = el("div", "note-conflict");
    panel.setAttribute("role", "alert");
    panel.setAttribute("data-conflict", "");
    var intro = el("p");
    intro.appendChild(el("strong", "", "Someone else saved this note while you were editing it."));
    intro.appendChild(document.createTextNode(" Nothing is lost: both versions are below. Choose one."));
    panel.appendChild(intro);
    var versions = el("div", "note-versions");
    versions.appendChild(versionBox("Theirs", "Saved" + who + when, theirs.note, "data-theirs"));
    versions.appendChild(versionBox("Yours", "Not saved yet; it is in the box above", yours, "data-yours"));
    panel.appendChild(versions);
    var row = el("div", "button-row");
    var mine = el("button", "button primary small", "Keep mine");
    mine.type = "button";
    var other = el("button", "button small", "Use theirs");
    other.type = "button";
    row.appendChild(mine);
    row.appendChild(other);
    panel.appendChild(row);
    card.foot.parentNode.insertBefore(panel, card.foot);
    card.li.classList.add("has-conflict");
    if (card.saveButton) { card.saveButton.hidden = true; }
    wireConflict(card, panel, mine, other);
    setStatus(card, "error", "Not saved: someone else changed this note. Choose a version.");
  }

  function wireConflict(card, panel, mine, other) {
    card.panel = panel;
    mine.addEventListener("click", function (event) { event.preventDefault(); keepMine(card); });
    other.addEventListener("click", function (event) { event.preventDefault(); useTheirs(card); });
  }

  function removeConflict(card) {
    if (card.panel) { card.panel.remove(); }
    card.panel = null;
    card.conflict = null;
    card.li.classList.remove("has-conflict");
    if (card.saveButton) { card.saveButton.hidden = false; }
  }

  function keepMine(card) {
    card.revision.value = card.conflict.revision;
    removeConflict(card);
    card.area.focus();
    save(card, true);
  }

  function useTheirs(card) {
    var theirs = card.conflict;
    card.area.value = theirs.note;
    card.saved = theirs.note;
    card.revision.value = theirs.revision;
    removeConflict(card);
    card.area.focus();
    setStatus(card, "saved", "Using their version");
  }

  function focusCard(card, atEnd) {
    card.area.focus({ preventScroll: true });
    card.li.scrollIntoView({ block: "center" });
    if (atEnd) {
      var end = card.area.value.length;
      card.area.setSelectionRange(end, end);
    }
  }

  function move(card, step) {
    save(card);
    var target = cards[cards.indexOf(card) + step];
    if (target) { focusCard(target, true); return; }
    var url = step > 0 ? list.getAttribute("data-next-url") : list.getAttribute("data-prev-url");
    if (!url) {
      if (!card.status.classList.contains("is-error")) {
        setStatus(card, "", step > 0 ? "This is the last candidate." : "This is the first candidate.");
      }
      return;
    }
    Promise.all(cards.map(function (c) { return c.inFlight; })).then(function () {
      if (cards.some(function (c) { return isDirty(c) || c.conflict; })) {
        setStatus(card, "error", "Stayed on this page: a note here is not saved yet.");
        return;
      }
      window.location.href = url + (step > 0 ? "#notes-first" : "#notes-last");
    });
  }

  function onKey(card, event) {
    var plainAlt = event.altKey && !event.ctrlKey && !event.metaKey && !event.shiftKey;
    if (plainAlt && (event.key === "ArrowDown" || event.key === "ArrowUp")) {
      event.preventDefault();
      move(card, event.key === "ArrowDown" ? 1 : -1);
    } else if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      move(card, 1);  // move() saves first
    }
  }

  function setup(form) {
    var card = {
      form: form,
      li: form.closest(".note-card"),
      area: form.querySelector("textarea"),
      revision: form.querySelector('input[name="base_revision"]'),
      status: form.querySelector(".note-status"),
      meta: form.querySelector(".note-meta"),
      foot: form.querySelector(".note-foot"),
      saveButton: form.querySelector('.note-foot button[type="submit"]'),
      url: form.getAttribute("action").split("#")[0],
      timer: null, inFlight: null, again: false, conflict: null, panel: null
    };
    card.saved = card.area.value;
    var served = form.querySelector("[data-conflict]");
    if (served) {  // a conflict the server showed (the form was posted without this script)
      card.conflict = {
        note: served.querySelector("[data-theirs]").textContent,
        revision: served.getAttribute("data-theirs-revision")
      };
      card.saved = card.conflict.note;
      wireConflict(card, served, served.querySelector("[data-keep-mine]"),
        served.querySelector("[data-use-theirs]"));
    }
    card.area.addEventListener("input", function () {
      if (card.conflict) {
        var yours = card.panel && card.panel.querySelector("[data-yours]");
        if (yours) { yours.textContent = card.area.value; }
        return;
      }
      setStatus(card, "", "Unsaved changes…");
      schedule(card, IDLE_MS);
    });
    card.area.addEventListener("blur", function () { save(card); });
    card.area.addEventListener("keydown", function (event) { onKey(card, event); });
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (card.conflict) { keepMine(card); } else { save(card, true); }
    });
    cards.push(card);
  }

  Array.prototype.forEach.call(list.querySelectorAll("form.note-form"), setup);
  if (!cards.length) { return; }
  Array.prototype.forEach.call(document.querySelectorAll("[data-js-only]"), function (node) {
    node.hidden = false;
  });

  window.addEventListener("beforeunload", function (event) {
    if (cards.some(function (c) { return isDirty(c) || c.inFlight || c.conflict; })) {
      event.preventDefault();
      event.returnValue = "";
    }
  });

  // Land in a note: the one named in the address, or the first that is still empty.
  var hash = window.location.hash;
  var start = null;
  if (hash === "#notes-first") { start = cards[0]; }
  else if (hash === "#notes-last") { start = cards[cards.length - 1]; }
  else if (hash.indexOf("#a-") === 0) {
    start = cards.filter(function (c) { return "#" + c.li.id === hash; })[0];
  } else {
    start = cards.filter(function (c) { return !clean(c.area.value); })[0];
  }
  if (start) { focusCard(start, true); }
}());
