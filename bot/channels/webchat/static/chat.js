// The web chat page. No storage, no cookies, no third-party code: the session id lives only in
// this closure, and a quick exit wipes the page and leaves without a history entry.
(function () {
  "use strict";
  var exitUrl = document.body.getAttribute("data-exit-url") || "about:blank";
  var log = document.getElementById("log");
  var form = document.getElementById("composer");
  var input = document.getElementById("text");
  var exitButton = document.getElementById("quick-exit");
  var bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  var session = Array.prototype.map.call(bytes, function (b) {
    return ("0" + b.toString(16)).slice(-2);
  }).join("");
  var leaving = false;
  var pollTimer = null;

  // serverEnded: the server already answered exit (she typed the exit word), so the session is
  // over there and a second exit request would only be noise.
  function quickExit(serverEnded) {
    if (leaving) { return; }
    leaving = true;
    if (serverEnded !== true) {
      var body = JSON.stringify({ session: session, action: "exit" });
      try { navigator.sendBeacon("/webchat/api/messages", body); } catch (e) { /* leave anyway */ }
    }
    session = null;
    if (pollTimer) { clearInterval(pollTimer); }
    document.title = "";
    document.body.innerHTML = "";
    location.replace(exitUrl);
  }

  function setLanguage(lang, dir, ui) {
    if (lang) { document.documentElement.lang = lang; }
    if (dir) { document.documentElement.dir = dir; }
    if (ui) {
      document.title = ui.title;
      document.querySelector(".title").textContent = ui.title;
      exitButton.textContent = ui.exit;
      exitButton.setAttribute("aria-label", ui.exit);
      document.getElementById("send").setAttribute("aria-label", ui.send);
      input.setAttribute("placeholder", ui.placeholder);
      input.setAttribute("aria-label", ui.placeholder);
    }
  }

  function disableOldButtons() {
    var old = log.querySelectorAll(".row button");
    for (var i = 0; i < old.length; i++) {
      if (old[i].getAttribute("data-action") !== "exit") { old[i].disabled = true; }
    }
  }

  function addBubble(text, who) {
    var div = document.createElement("div");
    div.className = "bubble " + who;
    div.textContent = text;  // never innerHTML: the text may contain anything
    log.appendChild(div);
    return div;
  }

  function render(reply) {
    var bubble = addBubble(reply.text, "bot");
    if (reply.buttons && reply.buttons.length) {
      var box = document.createElement("div");
      box.className = "buttons";
      reply.buttons.forEach(function (row) {
        var r = document.createElement("div");
        r.className = "row";
        row.forEach(function (b) {
          var btn = document.createElement("button");
          btn.type = "button";
          btn.textContent = b.label;
          btn.setAttribute("data-action", b.action);
          btn.addEventListener("click", function () {
            if (b.action === "exit") { quickExit(false); return; }
            addBubble(b.label, "me");
            send({ action: b.action });
          });
          r.appendChild(btn);
        });
        box.appendChild(r);
      });
      bubble.appendChild(box);
    }
  }

  function show(data) {
    setLanguage(data.lang, data.dir, data.ui);
    if (data.replies && data.replies.length) {
      if (data.replies.some(function (r) { return r.buttons && r.buttons.length; })) {
        disableOldButtons();
      }
      data.replies.forEach(render);
      log.scrollTop = log.scrollHeight;
    }
    if (data.exit) { quickExit(true); }
  }

  function send(payload) {
    if (!session) { return Promise.resolve(); }
    payload.session = session;
    return fetch("/webchat/api/messages", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(payload),
      credentials: "omit",
      cache: "no-store",
      referrerPolicy: "no-referrer"
    }).then(function (resp) {
      return resp.json().then(function (data) {
        if (!resp.ok) {
          var e = addBubble(data.error || String(resp.status), "error");
          e.className = "error";
          return;
        }
        show(data);
      });
    }).catch(function () {
      var e = addBubble("⚠", "error");
      e.className = "error";
    });
  }

  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var text = input.value;
    input.value = "";
    if (!text.trim()) { return; }
    addBubble(text, "me");
    send({ text: text });
  });
  exitButton.addEventListener("click", function () { quickExit(false); });
  // Three presses of Escape also leave at once (a keyboard user may not find the button fast).
  var escapes = 0, escTimer = null;
  document.addEventListener("keydown", function (ev) {
    if (ev.key !== "Escape") { return; }
    escapes += 1;
    clearTimeout(escTimer);
    escTimer = setTimeout(function () { escapes = 0; }, 1500);
    if (escapes >= 3) { quickExit(false); }
  });

  var deep = location.hash.replace(/^#/, "");
  if (/^(ev|job)-\d{1,9}$/.test(deep)) {
    history.replaceState(null, "", location.pathname);
    send({ text: "/start " + deep });
  } else {
    send({ text: "/start" });
  }
  // Answers from a caseworker arrive between her messages: ask for them now and then.
  pollTimer = setInterval(function () {
    if (session && !document.hidden) { send({ poll: true }); }
  }, 8000);
}());
