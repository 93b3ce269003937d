// Left and right arrows follow the page's <link rel="prev"> and <link rel="next">.
// Pages work without this file; it only adds the shortcut and reveals its hint.
(function () {
  "use strict";
  document.documentElement.classList.add("js");
  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.altKey || event.ctrlKey || event.metaKey || event.shiftKey) {
      return;
    }
    if (document.querySelector("dialog[open]")) {
      return; // a viewer or a dialog is open: the keys are its own
    }
    var target = event.target;
    if (target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName))) {
      return;
    }
    var rel = { ArrowLeft: "prev", ArrowRight: "next" }[event.key];
    var link = rel && document.querySelector('link[rel="' + rel + '"]');
    if (link) {
      event.preventDefault();
      window.location.href = link.href;
    }
  });
})();
