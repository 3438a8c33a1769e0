/* Each note box's length gauge, live: this note's words against the position's median note.
   The server renders the same figures and hint (views/notes.py, gauge()); this file only
   keeps them current while the person types. Words are counted as the letter checks count
   them, and the thresholds come from the page (data-short, data-ratio, data-long). */
(function () {
  "use strict";

  var WORD = /[\p{L}\p{N}]+(?:['\u2019][\p{L}\p{N}]+)?/gu;
  var ANNOUNCE_MS = 500;  // the live region speaks once typing pauses, not on every key

  function count(text) {
    var found = text.match(WORD);
    return found ? found.length : 0;
  }

  function hintFor(words, median, limits) {
    if (!words) { return "No note yet: this letter would go without a personal paragraph."; }
    if (words < limits.short || (median && words < median * limits.ratio)) {
      return "Shorter than most: this letter will feel colder.";
    }
    if (words > limits.long) {
      return "Longer than most: two or three sentences read warmer than an assessment.";
    }
    return "";
  }

  function setup(box) {
    var form = box.closest("form");
    var area = form && form.querySelector("textarea");
    var meter = box.querySelector("meter");
    var figures = box.querySelector("[data-gauge-figures]");
    var hint = box.querySelector("[data-gauge-hint]");
    if (!area || !figures || !hint) { return; }
    var median = parseInt(box.getAttribute("data-median"), 10) || 0;
    var limits = {
      short: parseInt(box.getAttribute("data-short"), 10) || 0,
      ratio: parseFloat(box.getAttribute("data-ratio")) || 0,
      long: parseInt(box.getAttribute("data-long"), 10) || Infinity
    };
    var timer = null;

    function measure() {
      var words = count(area.value);
      if (meter) {
        if (words > meter.max) { meter.max = words; }
        meter.value = words;
      }
      return words;
    }

    function render() {
      var words = measure();
      var text = hintFor(words, median, limits);
      figures.textContent = words + (words === 1 ? " word" : " words") +
        (median ? " \u00b7 batch median " + median : "");
      hint.textContent = text ? " \u00b7 " + text : "";
      box.classList.toggle("has-hint", Boolean(text));
    }

    area.addEventListener("input", function () {
      measure();
      clearTimeout(timer);
      timer = setTimeout(render, ANNOUNCE_MS);
    });
    // notes.js sets the text itself for "Use theirs", then puts the focus back in the box.
    area.addEventListener("focus", render);
    render();
  }

  Array.prototype.forEach.call(document.querySelectorAll("[data-gauge]"), setup);
}());
