// Culling at the keyboard, on pages `kiln serve` sent: on the focused thumbnail, in the
// loupe or in compare, 1-5 rate, 0 clears the rating, P picks, X rejects, U clears the pick
// or reject, T edits tags, N the note; with Shift the key applies and moves to the next
// image. Ctrl+Z (Cmd+Z) undoes the last change. A change shows at once and is put back if
// the server refuses it.
(function () {
  "use strict";
  var kiln = window.kiln;
  if (!kiln || !kiln.token) return;

  // Writes go one after the other, so they reach the store in the order they were typed.
  var queue = Promise.resolve();
  var pending = 0;

  function post(path, body) {
    pending++;
    var request = queue.then(function () {
      return fetch(path, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-Kiln-Token": kiln.token },
        body: JSON.stringify(body)
      }).then(function (response) {
        return response.json().catch(function () { return {}; }).then(function (data) {
          if (!response.ok) throw new Error(data.error || "the server answered " + response.status);
          return data;
        });
      }, function () {
        throw new Error("the server cannot be reached; is kiln serve still running?");
      });
    });
    queue = request.catch(function () {}).then(function () { pending--; });
    return request;
  }

  // What the change will make of ``state``, shown before the server confirms it.
  function predict(state, change) {
    var next = { id: state.id, rating: state.rating, status: state.status, tags: state.tags.slice(), notes: state.notes };
    if ("rating" in change) next.rating = change.rating;
    if ("status" in change) next.status = change.status;
    if ("note" in change) next.notes = change.note;
    (change.tags || []).forEach(function (tag) {
      var name = tag.slice(1);
      var at = next.tags.indexOf(name);
      if (tag[0] === "+" && at < 0) next.tags.push(name);
      if (tag[0] === "-" && at >= 0) next.tags.splice(at, 1);
    });
    return next;
  }

  // Shows the change at once and sends it; when the last write for the image is answered,
  // its answer (or, on a refusal, the state before) is what stays.
  function change(id, delta) {
    var before = kiln.stateOf(id);
    if (!before) return;
    kiln.setState(predict(before, delta));
    kiln.sent[id] = (kiln.sent[id] || 0) + 1;
    kiln.pending[id] = (kiln.pending[id] || 0) + 1;
    post("/_kiln/api/curate", { ids: [id], change: delta }).then(function (reply) {
      if (--kiln.pending[id] === 0) (reply.images || []).forEach(kiln.setState);
      kiln.say(reply.message || "Saved");
    }, function (error) {
      if (--kiln.pending[id] === 0) kiln.setState(before);
      kiln.say("Not saved: " + error.message, true);
    });
  }

  function undo() {
    post("/_kiln/api/undo", {}).then(function (reply) {
      (reply.images || []).forEach(kiln.setState);
      kiln.say(reply.message || "Undone");
    }, function (error) {
      kiln.say("Nothing undone: " + error.message, true);
    });
  }

  // "+a, -b, c" → ["+a", "-b", "+c"]: a bare word adds.
  function parseTags(text) {
    return text.split(",").map(function (part) { return part.trim(); }).filter(Boolean).map(function (part) {
      if (part[0] === "+" || part[0] === "-") {
        var name = part.slice(1).trim();
        return name ? part[0] + name : null;
      }
      return "+" + part;
    }).filter(Boolean);
  }

  // A small form in a modal dialog; ``done`` receives the text when it is submitted.
  function ask(title, hint, multiline, value, done) {
    var dialog = kiln.el("dialog", "ask");
    var form = kiln.el("form");
    form.method = "dialog";
    var id = "kiln-ask-" + Date.now();
    var label = kiln.el("label", "ask-title", title);
    label.htmlFor = id;
    var field = kiln.el(multiline ? "textarea" : "input", "ask-field");
    field.id = id;
    field.value = value;
    if (multiline) field.rows = 4;
    else field.autocomplete = "off";
    var help = kiln.el("p", "ask-hint", hint);
    help.id = id + "-hint";
    field.setAttribute("aria-describedby", help.id);
    var buttons = kiln.el("div", "ask-buttons");
    var cancel = kiln.el("button", "view", "Cancel");
    cancel.type = "button";
    cancel.addEventListener("click", function () { dialog.close(); });
    var ok = kiln.el("button", "view is-primary", "Save");
    ok.type = "submit";
    buttons.append(cancel, ok);
    form.append(label, field, help, buttons);
    dialog.appendChild(form);
    dialog.setAttribute("aria-label", title);
    document.body.appendChild(dialog);
    var saved = false;
    form.addEventListener("submit", function () { saved = true; });
    field.addEventListener("keydown", function (event) {
      // In the note, Enter starts a new line and Ctrl+Enter (Cmd+Enter) saves.
      if (multiline && event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        saved = true;
        dialog.close();
      }
    });
    dialog.addEventListener("close", function () {
      dialog.remove();
      if (saved) done(field.value);
    });
    dialog.showModal();
    field.focus();
  }

  function tags(target, advance) {
    ask("Tags", "Comma-separated: +tag or a bare word adds, -tag removes", false, "", function (text) {
      var list = parseTags(text);
      if (list.length) change(target.id, { tags: list });
      if (advance) target.next();
    });
  }

  function note(target, advance) {
    var state = kiln.stateOf(target.id);
    ask("Note", "Ctrl+Enter saves; an empty note removes it", true, state ? state.notes : "", function (text) {
      change(target.id, { note: text.trim() });
      if (advance) target.next();
    });
  }

  window.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || kiln.typing(event) || event.altKey) return;
    var top = kiln.top();
    if (top && !top.classList.contains("loupe") && !top.classList.contains("compare")) return;
    var key = kiln.key(event);
    if ((event.ctrlKey || event.metaKey) && key === "z" && !event.shiftKey) {
      event.preventDefault();
      undo();
      return;
    }
    if (event.ctrlKey || event.metaKey) return;
    var delta = null;
    if (/^[0-5]$/.test(key)) delta = { rating: +key };
    else if (key === "p") delta = { status: "selected" };
    else if (key === "x") delta = { status: "rejected" };
    else if (key === "u") delta = { status: "" };
    else if (key !== "t" && key !== "n") return;
    var target = kiln.target();
    if (!target) return;
    event.preventDefault();
    event.stopPropagation();
    if (key === "t") return tags(target, event.shiftKey);
    if (key === "n") return note(target, event.shiftKey);
    change(target.id, delta);
    if (event.shiftKey) target.next();
  }, true);

  kiln.culling = {
    change: change,
    undo: undo,
    parseTags: parseTags,
    // Nothing sent and waiting, and no tag or note dialog about to send something.
    idle: function () { return pending === 0 && !document.querySelector("dialog.ask"); }
  };
})();
