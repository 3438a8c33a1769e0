/* The notes page's CVs and cover letters: "Read the whole text" fills the region in place.
   Without this script the link opens the extracted text as plain text. */
(function () {
  "use strict";
  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("a[data-document-more]");
    if (!link) { return; }
    var region = link.closest(".document-text");
    var pre = region && region.querySelector("[data-document-text]");
    if (!pre) { return; }
    event.preventDefault();
    link.setAttribute("aria-busy", "true");
    fetch(link.href, { credentials: "same-origin", headers: { Accept: "text/plain" } })
      .then(function (response) {
        if (!response.ok) { throw new Error(String(response.status)); }
        return response.text();
      })
      .then(function (text) {
        pre.textContent = text;
        link.parentNode.remove();
        region.focus();  // the keyboard stays in the region it asked to grow
      })
      .catch(function () {
        link.removeAttribute("aria-busy");
        window.location.href = link.href;  // the plain-text page still has it all
      });
  });
})();
