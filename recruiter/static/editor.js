/* The boilerplate editor, enhanced: field picker, live preview, errors that jump to their line.
   Without this file the picker is a reference list and "Preview" posts the form. */
(function () {
  "use strict";

  var form = document.getElementById("editor");
  if (!form) { return; }

  var DEBOUNCE_MS = 400;
  var previewUrl = form.getAttribute("data-preview-url");
  var csrfMeta = document.querySelector('meta[name="csrf-token"]');
  var csrf = csrfMeta ? csrfMeta.getAttribute("content") : "";
  var subject = form.querySelector('input[name="subject"]');
  var body = form.querySelector('textarea[name="body"]');
  var position = form.elements.namedItem("position");
  var application = form.elements.namedItem("application");
  var status = document.getElementById("editor-status");
  var errorsBox = document.getElementById("template-errors");
  var lastField = body;
  var timer = null;
  var sequence = 0;
  var submitting = false;
  // After a refused save the page holds text that is not stored anywhere yet.
  var initial = subject && body && !form.hasAttribute("data-unsaved")
    ? subject.value + "\u0000" + body.value : "";

  Array.prototype.forEach.call(document.querySelectorAll("[data-js-only]"), function (node) {
    node.hidden = false;
  });
  Array.prototype.forEach.call(document.querySelectorAll("[data-no-js]"), function (node) {
    node.hidden = true;  // the preview follows the selects by itself
  });

  // Read-only: choosing a candidate simply reloads the page with that preview.
  if (!previewUrl) {
    [position, application].forEach(function (select) {
      if (!select) { return; }
      select.addEventListener("change", function () {
        if (select === position && application) { application.disabled = true; }
        form.submit();  // a GET form: the page reloads with this candidate's preview
      });
    });
    return;
  }

  /* --- merge-field picker: insert {{ field }} at the cursor -------------------------------- */
  [subject, body].forEach(function (input) {
    input.addEventListener("focus", function () { lastField = input; });
  });
  Array.prototype.forEach.call(form.querySelectorAll("code[data-field]"), function (code) {
    var button = document.createElement("button");
    button.type = "button";
    button.className = "field-chip";
    button.setAttribute("aria-label", "Insert " + code.getAttribute("data-field"));
    code.parentNode.insertBefore(button, code);
    button.appendChild(code);
    button.addEventListener("click", function () {
      var target = lastField || body;
      var text = "{{ " + code.getAttribute("data-field") + " }}";
      var start = target.selectionStart, end = target.selectionEnd;
      target.focus();
      target.setRangeText(text, start, end, "end");
      target.dispatchEvent(new Event("input", { bubbles: true }));
    });
  });

  /* --- live preview ------------------------------------------------------------------------- */
  function setText(id, text) {
    var node = document.getElementById(id);
    if (node) { node.textContent = text; }
  }

  function showErrors(errors) {
    var list = errorsBox.querySelector("ul");
    list.textContent = "";
    errors.forEach(function (error) {
      var item = document.createElement("li");
      item.className = "error";
      item.setAttribute("data-line", error.line || "");
      item.setAttribute("data-part", (error.part || "body").toLowerCase());
      item.textContent = error.message;
      list.appendChild(item);
    });
    errorsBox.hidden = errors.length === 0;
    enhanceErrors();
    body.setAttribute("aria-invalid", errors.length ? "true" : "false");
  }

  function render(data) {
    var problem = document.getElementById("preview-problem");
    var pane = document.querySelector(".preview-pane");
    var broken = !data.html && data.errors.length > 0;
    problem.hidden = data.errors.length === 0;
    // A template that does not compile keeps the last good preview, marked as out of date.
    if (data.errors.length) {
      var more = data.errors.length > 1
        ? " (and " + (data.errors.length - 1) + " more under the editor)" : "";
      problem.textContent = (broken ? "The preview below is from before this change. To fix: "
        : "To fix: ") + data.errors[0].message + more;
    }
    pane.classList.toggle("is-stale", broken);
    showErrors(data.errors);
    if (broken) { return; }
    setText("preview-subject", data.subject);
    setText("preview-text", data.text);
    // The server sanitised this HTML (nh3, an allow-list of tags); it holds no script.
    document.getElementById("preview-html").innerHTML = data.html;
    var missing = document.getElementById("preview-missing");
    missing.hidden = !data.missing.length;
    missing.querySelector("span").textContent = data.missing.join(", ");
    if (data.candidate && position) {
      setText("preview-for", "For " + data.candidate + ", " + position.options[position.selectedIndex].text);
    }
  }

  function fillCandidates(candidates, chosen) {
    application.textContent = "";
    candidates.forEach(function (c) {
      var option = document.createElement("option");
      option.value = c.id;
      option.textContent = c.name;
      option.selected = c.id === chosen;
      application.appendChild(option);
    });
  }

  function preview(withCandidates) {
    clearTimeout(timer);
    var mine = ++sequence;
    var data = new URLSearchParams();
    data.set("csrf_token", csrf);
    data.set("subject", subject.value);
    data.set("body", body.value);
    if (position) { data.set("position", position.value); }
    if (application && !withCandidates) { data.set("application", application.value); }
    if (withCandidates) { data.set("with_candidates", "1"); }
    status.textContent = "Updating the preview…";
    fetch(previewUrl, {
      method: "POST", body: data, credentials: "same-origin",
      headers: { "Accept": "application/json", "X-CSRFToken": csrf }
    }).then(function (response) {
      var type = response.headers.get("Content-Type") || "";
      if (!response.ok || type.indexOf("application/json") === -1) {
        throw new Error("the preview is not available (reload the page; your text is kept until you do)");
      }
      return response.json();
    }).then(function (result) {
      if (mine !== sequence) { return; }  // a newer preview is on its way
      if (withCandidates && application) { fillCandidates(result.candidates || [], result.application_id); }
      render(result);
      status.textContent = result.errors.length ? "" : "Preview up to date";
    }).catch(function (error) {
      if (mine === sequence) { status.textContent = "Not updated: " + error.message + "."; }
    });
  }

  function later() {
    clearTimeout(timer);
    status.textContent = "";
    timer = setTimeout(function () { preview(false); }, DEBOUNCE_MS);
  }

  subject.addEventListener("input", later);
  body.addEventListener("input", later);
  if (position) { position.addEventListener("change", function () { preview(true); }); }
  if (application) { application.addEventListener("change", function () { preview(false); }); }

  /* --- errors: click one to go to its line -------------------------------------------------- */
  function goToLine(part, line) {
    var target = part === "subject" ? subject : body;
    var lines = target.value.split("\n");
    var n = Math.max(1, Math.min(line || 1, lines.length));
    var start = 0;
    for (var i = 0; i < n - 1; i++) { start += lines[i].length + 1; }
    target.focus();
    target.setSelectionRange(start, start + lines[n - 1].length);
    if (target === body) {  // bring the line into view in the textarea
      var lineHeight = parseFloat(getComputedStyle(body).lineHeight) || 20;
      body.scrollTop = Math.max(0, (n - 3) * lineHeight);
    }
  }

  function enhanceErrors() {
    Array.prototype.forEach.call(errorsBox.querySelectorAll("li[data-line]"), function (item) {
      var line = parseInt(item.getAttribute("data-line"), 10);
      if (!line || item.querySelector("button")) { return; }
      var button = document.createElement("button");
      button.type = "button";
      button.className = "link small";
      button.textContent = "Go to line " + line;
      button.addEventListener("click", function () {
        goToLine(item.getAttribute("data-part"), line);
      });
      item.appendChild(document.createTextNode(" "));
      item.appendChild(button);
    });
  }
  enhanceErrors();

  /* --- keep unsaved text from vanishing ------------------------------------------------------ */
  form.addEventListener("submit", function () { submitting = true; });
  window.addEventListener("beforeunload", function (event) {
    if (!submitting && subject.value + "\u0000" + body.value !== initial) {
      event.preventDefault();
      event.returnValue = "";
    }
  });
}());
