// The web chat page. No storage, no cookies, no third-party code: the session id lives only in
// this closure, and a quick exit wipes the page and leaves with location.replace (no entry
// for the Back button; the address still stays in the browser's history list).
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
  // The bot asked for her code word (a reply with "secret"): the next input is a password
  // field, and what she types there is sent without drawing her bubble.
  var secretNext = false;

  function setSecret(on) {
    secretNext = on;
    var type = on ? "password" : "text";
    if (input.type !== type) {
      input.type = type;
      input.value = "";  // nothing half-typed moves between a text and a password field
    }
  }

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

  // Phone numbers, web and e-mail addresses and other digits, found in a message's text. Each is
  // put in its own left-to-right <bdi> so that "0800 11 977" never reads "977 11 0800" in
  // Arabic; a phone number becomes a tel: link she can tap. Built from text nodes only.
  var LTR_RUN = new RegExp(
    "[\\w.+-]+@[\\w-]+(?:\\.[\\w-]+)+" +
    "|(?:https?://)?[A-Za-z0-9-]+(?:\\.[A-Za-z0-9-]+)*\\.[A-Za-z]{2,}(?:/[\\w./%?=&#-]*)?" +
    "|\\+?\\d[\\d \\u00a0]*\\d|\\d", "g");

  function isPhone(run, before) {
    if (!/^\+?[\d \u00a0]+$/.test(run)) { return false; }
    var digits = run.replace(/\D/g, "");
    // A help line ("☎ 1522"), an emergency number, or a number long enough to be a phone.
    return /☎[\s\u2066-\u2069]*$/.test(before) || digits === "112" || digits.length >= 6;
  }

  // nested: already inside an isolate (the server's U+2068...U+2069 around a number, address
  // or date): no second <bdi> there, or the browser could not find the isolate's direction.
  function appendRuns(el, text, nested, before) {
    var last = 0;
    text.replace(LTR_RUN, function (run, at) {
      if (at > last) { el.appendChild(document.createTextNode(text.slice(last, at))); }
      var node;
      if (isPhone(run, ((before || "") + text.slice(0, at)).slice(-3))) {
        node = document.createElement("a");
        node.className = "tel";
        node.href = "tel:" + run.replace(/[^\d+]/g, "");
        node.textContent = run;
      } else if (nested) {
        node = document.createTextNode(run);
      } else {
        node = document.createElement("span");
        node.textContent = run;
      }
      if (!nested) {
        var bdi = document.createElement("bdi");
        bdi.className = "ltr";
        bdi.setAttribute("dir", "ltr");
        bdi.appendChild(node);
        node = bdi;
      }
      el.appendChild(node);
      last = at + run.length;
      return run;
    });
    if (last < text.length) { el.appendChild(document.createTextNode(text.slice(last))); }
  }

  var ISOLATE = /\u2068([^\u2068\u2069]*)\u2069/g;

  function fillText(el, text) {
    var last = 0;
    text.replace(ISOLATE, function (whole, inner, at) {
      if (at > last) { appendRuns(el, text.slice(last, at), false); }
      var bdi = document.createElement("bdi");  // its direction from its own first letter
      appendRuns(bdi, inner, true, text.slice(Math.max(0, at - 3), at));
      el.appendChild(bdi);
      last = at + whole.length;
      return whole;
    });
    if (last < text.length) { appendRuns(el, text.slice(last), false); }
  }

  function render(reply) {
    var bubble = document.createElement("div");
    bubble.className = "bubble bot";
    fillText(bubble, reply.text || "");
    log.appendChild(bubble);
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
    return bubble;
  }

  function show(data, polled) {
    setLanguage(data.lang, data.dir, data.ui);
    if (!polled) {
      // Only an answer to her own message says what the next input is; a poll leaves it.
      setSecret(!!(data.replies && data.replies.some(function (r) { return r.secret; })));
    }
    if (data.replies && data.replies.length) {
      if (data.replies.some(function (r) { return r.buttons && r.buttons.length; })) {
        disableOldButtons();
      }
      var first = null;
      data.replies.forEach(function (r) {
        var b = render(r);
        if (!first) { first = b; }
      });
      // Open a long answer at its top (the job's title, "Help in Italy"), not at its buttons;
      // a short one simply sits at the bottom (scrollTop stops there).
      log.scrollTop += first.getBoundingClientRect().top - log.getBoundingClientRect().top - 8;
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
        show(data, payload.poll === true);
      });
    }).catch(function () {
      var e = addBubble("⚠", "error");
      e.className = "error";
    });
  }

  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var text = input.value;
    var secret = secretNext;
    input.value = "";
    if (!text.trim()) { return; }
    if (secret) {
      setSecret(false);  // no bubble: her code word is never drawn on the page
    } else {
      addBubble(text, "me");
    }
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
