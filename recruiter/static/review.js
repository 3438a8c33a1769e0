// One letter's page, at keyboard speed: A approves and goes to the next letter to review,
// J and K go to the next and the previous letter. Progressive enhancement only: the buttons
// and links work the same without this script, which only presses them.
(function () {
  "use strict";

  var hint = document.querySelector(".review-keys");
  if (hint) hint.hidden = false; // the keys work only with the script: say so only then

  function typing(target) {
    if (!target || !target.closest) return false;
    if (target.isContentEditable) return true;
    var field = target.closest("input, textarea, select");
    if (!field) return false;
    // A checkbox or a button takes no letters: the shortcut still works from there.
    return !/^(checkbox|radio|button|submit|reset)$/i.test(field.type || "");
  }

  function follow(rel) {
    var link = document.querySelector('.page-head a[rel="' + rel + '"]');
    if (link) window.location.assign(link.href);
  }

  var sent = false; // a second press while the page leaves would post the form again

  function approve() {
    var button = document.querySelector('[data-shortcut="approve-next"]');
    if (!button || button.disabled || sent) return;
    var form = button.form;
    if (!form.checkValidity()) {
      form.reportValidity(); // points at the unticked acknowledgement
      return;
    }
    sent = true;
    if (form.requestSubmit) {
      form.requestSubmit(button);
    } else {
      button.click();
    }
  }

  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.altKey || event.ctrlKey || event.metaKey ||
        event.isComposing || typing(event.target)) {
      return;
    }
    var key = event.key.toLowerCase();
    if (key === "a") {
      event.preventDefault();
      approve();
    } else if (key === "j") {
      event.preventDefault();
      follow("next");
    } else if (key === "k") {
      event.preventDefault();
      follow("prev");
    }
  });
})();
