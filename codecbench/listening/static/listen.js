// codecbench listening test (MUSHRA / AB / MOS). Static, offline, no server.
// The test configuration is read from a JSON data block; every string from it is shown with
// textContent, never parsed as HTML. Answers are saved to localStorage on every change, so a
// reload resumes where the listener was, and can be downloaded as JSON at any time.
(function () {
  "use strict";

  var cfg = JSON.parse(document.getElementById("test-config").textContent);
  var KEY = "codecbench-listen:" + cfg.test_id;
  var LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
  var MOS_LABELS = { 1: "Bad", 2: "Poor", 3: "Fair", 4: "Good", 5: "Excellent" };
  var MUSHRA_SCALE = ["Excellent", "Good", "Fair", "Poor", "Bad"];
  var app = document.getElementById("app");
  var state = null;
  var players = {};      // stimulus id -> HTMLAudioElement of the trial on screen
  var current = null;    // id of the playing stimulus
  var trialShownAt = 0;

  // ---- helpers -------------------------------------------------------------------------
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") node.textContent = attrs[k];
      else if (k === "className") node.className = attrs[k];
      else if (k.slice(0, 2) === "on") node.addEventListener(k.slice(2), attrs[k]);
      else node.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) { if (c) node.appendChild(c); });
    return node;
  }
  function hash32(str) {                       // FNV-1a
    var h = 0x811c9dc5;
    for (var i = 0; i < str.length; i++) { h ^= str.charCodeAt(i); h = Math.imul(h, 0x01000193) >>> 0; }
    return h >>> 0;
  }
  function mulberry32(seed) {
    return function () {
      seed = (seed + 0x6D2B79F5) >>> 0;
      var t = seed;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }
  function shuffle(list, rnd) {
    var a = list.slice();
    for (var i = a.length - 1; i > 0; i--) { var j = Math.floor(rnd() * (i + 1)); var t = a[i]; a[i] = a[j]; a[j] = t; }
    return a;
  }
  function nowIso() { return new Date().toISOString(); }
  function trialById(id) { return cfg.trials.filter(function (t) { return t.id === id; })[0]; }
  function stimById(trial, id) { return trial.stimuli.filter(function (s) { return s.id === id; })[0]; }

  // ---- state ---------------------------------------------------------------------------
  function newState(listener) {
    // Orders depend only on (test id, seed, listener id): the same listener always gets the
    // same blinded order, different listeners get different ones.
    var rnd = mulberry32(hash32(cfg.test_id + "|" + cfg.seed + "|" + listener));
    var order = shuffle(cfg.trials.map(function (t) { return t.id; }), rnd);
    var stimOrder = {};
    cfg.trials.forEach(function (t) { stimOrder[t.id] = shuffle(t.stimuli.map(function (s) { return s.id; }), rnd); });
    return { listener: listener, order: order, stimOrder: stimOrder, pos: 0, answers: {},
             started: nowIso(), finished: null, updated: nowIso() };
  }
  function save() {
    state.updated = nowIso();
    try {
      localStorage.setItem(KEY + ":" + state.listener, JSON.stringify(state));
      localStorage.setItem(KEY + ":current", state.listener);
    } catch (e) { console.warn("could not save answers to localStorage: " + e); }
  }
  function loadSaved(listener) {
    try { var raw = localStorage.getItem(KEY + ":" + listener); return raw ? JSON.parse(raw) : null; }
    catch (e) { return null; }
  }
  function answer(trialId) {
    if (!state.answers[trialId]) state.answers[trialId] = { ratings: {}, played: {}, time_ms: 0 };
    return state.answers[trialId];
  }

  // ---- results -------------------------------------------------------------------------
  function results() {
    var trials = [];
    state.order.forEach(function (tid, position) {
      var t = trialById(tid), a = state.answers[tid];
      if (!a || !complete(t, a)) return;
      var order = state.stimOrder[tid].map(function (sid) { return stimById(t, sid).condition; });
      var played = Object.keys(a.played).map(function (sid) { return stimById(t, sid).condition; });
      var rec = { trial: tid, item: t.item, dataset: t.dataset, position: position, order: order,
                  played: played, time_ms: Math.round(a.time_ms) };
      if (cfg.test === "mushra") {
        rec.ratings = {};
        Object.keys(a.ratings).forEach(function (sid) { rec.ratings[stimById(t, sid).condition] = a.ratings[sid]; });
      } else if (cfg.test === "ab") {
        rec.a = order[0]; rec.b = order[1];
        rec.choice = a.choice === "none" ? "none" : (a.choice === state.stimOrder[tid][0] ? "a" : "b");
        rec.preferred = a.choice === "none" ? null : stimById(t, a.choice).condition;
      } else {
        rec.condition = order[0]; rec.rating = a.rating;
      }
      trials.push(rec);
    });
    return { format: "codecbench-listening-results", version: 1, test_id: cfg.test_id, test: cfg.test,
             seed: cfg.seed, listener: state.listener, started: state.started, finished: state.finished,
             completed: trials.length === cfg.trials.length, user_agent: navigator.userAgent, trials: trials };
  }
  function download() {
    var blob = new Blob([JSON.stringify(results(), null, 2)], { type: "application/json" });
    var url = URL.createObjectURL(blob);
    var safe = state.listener.replace(/[^A-Za-z0-9._-]+/g, "_").slice(0, 40) || "listener";
    var a = el("a", { href: url, download: cfg.test + "_" + cfg.test_id + "_" + safe + ".json" });
    document.body.appendChild(a); a.click(); a.remove();
    setTimeout(function () { URL.revokeObjectURL(url); }, 5000);
  }

  // ---- audio ---------------------------------------------------------------------------
  function stopAll() {
    Object.keys(players).forEach(function (k) { players[k].pause(); players[k].currentTime = 0; });
    current = null; markPlaying();
  }
  function play(id) {
    var next = players[id], prev = current ? players[current] : null, t = 0;
    if (prev) { t = prev.currentTime; prev.pause(); }
    // Seamless switching: the new stimulus continues at the same position (stimuli are equal length).
    if (prev && isFinite(next.duration) && t < next.duration) next.currentTime = t; else if (!prev) next.currentTime = 0;
    var p = next.play(); if (p && p.catch) p.catch(function (e) { console.warn("playback: " + e); });
    current = id; markPlaying();
    if (id !== "__ref__" && state.order[state.pos]) { answer(state.order[state.pos]).played[id] = true; save(); }
  }
  function markPlaying() {
    document.querySelectorAll("[data-play]").forEach(function (b) {
      b.classList.toggle("playing", b.getAttribute("data-play") === current);
      var box = b.closest(".stim"); if (box) box.classList.toggle("active", b.getAttribute("data-play") === current);
    });
  }
  function makePlayers(trial) {
    Object.keys(players).forEach(function (k) { players[k].pause(); players[k].remove(); });
    players = {}; current = null;
    var add = function (id, src) {
      var a = el("audio", { preload: "auto", src: src, "data-stimulus": id });
      a.loop = cfg.test === "mushra";
      a.hidden = true; document.body.appendChild(a); players[id] = a;
    };
    if (trial.reference) add("__ref__", trial.reference);
    trial.stimuli.forEach(function (s) { add(s.id, s.src); });
  }
  function playButton(id, text) {
    return el("button", { type: "button", className: "secondary", "data-play": id, text: text,
                          onclick: function () { if (current === id) stopAll(); else play(id); } });
  }

  // ---- views ---------------------------------------------------------------------------
  function progress() {
    var n = cfg.trials.length, done = Math.min(state ? state.pos : 0, n);
    document.getElementById("progress").max = n;
    document.getElementById("progress").value = done;
    document.getElementById("progress-text").textContent = state && !state.finished ?
      "Trial " + Math.min(done + 1, n) + " of " + n : (state ? "Finished" : "");
    document.getElementById("download-partial").hidden = !state;
  }
  function clear() { while (app.firstChild) app.removeChild(app.firstChild); window.scrollTo(0, 0); }

  function showStart() {
    state = null; progress(); clear();
    var last = null;
    try { last = localStorage.getItem(KEY + ":current"); } catch (e) { last = null; }
    var input = el("input", { type: "text", id: "listener-id", placeholder: "e.g. your initials", maxlength: "64",
                              autocomplete: "off" });
    var start = el("button", { type: "button", id: "start-button", text: "Start", onclick: function () {
      var id = input.value.trim();
      if (!id) { input.focus(); return; }
      state = loadSaved(id) || newState(id); save(); route();
    } });
    var kinds = { mushra: "MUSHRA (ITU-R BS.1534): rate each condition from 0 (bad) to 100 (excellent) against the reference. One of the conditions is the hidden reference; rate it 100.",
                  ab: "Pairwise preference: which of A and B sounds closer to the reference?",
                  mos: "Absolute category rating: rate the overall quality of each sample from 1 (bad) to 5 (excellent)." };
    var card = el("section", { className: "card", id: "start" }, [
      el("h1", { text: cfg.title }),
      el("p", { text: kinds[cfg.test] }),
      el("p", { className: "muted", text: cfg.trials.length + " trials. Use headphones in a quiet room. " +
        "Your answers are saved in this browser as you go; reloading the page loses nothing." }),
      el("p", {}, [el("label", { for: "listener-id", text: "Listener id: " }), input, document.createTextNode(" "), start])
    ]);
    if (last && loadSaved(last)) {
      card.appendChild(el("p", {}, [el("button", { type: "button", className: "secondary", id: "resume-button",
        text: "Continue as " + last, onclick: function () { state = loadSaved(last); route(); } })]));
    }
    app.appendChild(card);
  }

  function route() {
    if (!state) return showStart();
    if (state.pos >= cfg.trials.length) { if (!state.finished) { state.finished = nowIso(); save(); } return showFinish(); }
    showTrial();
  }

  function complete(t, a) {
    if (!a) return false;
    if (cfg.test === "mushra") return t.stimuli.every(function (s) { return a.ratings[s.id] !== undefined; });
    if (cfg.test === "ab") return !!a.choice;
    return a.rating !== undefined;
  }
  function problem(t, a) {
    if (cfg.test === "mushra") {
      var values = t.stimuli.map(function (s) { return a.ratings[s.id]; });
      if (values.some(function (v) { return v === undefined; })) return "Rate every condition (move each slider).";
      if (cfg.require_one_100 && values.indexOf(100) < 0) return "Rate at least one condition 100 (the hidden reference).";
      return "";
    }
    if (cfg.test === "ab") return a.choice ? "" : "Choose A, B or no preference.";
    return a.rating !== undefined ? "" : "Choose a rating.";
  }

  function showTrial() {
    clear(); progress();
    var tid = state.order[state.pos], t = trialById(tid), a = answer(tid);
    trialShownAt = performance.now();
    makePlayers(t);
    var msg = el("span", { className: "msg", id: "trial-message" });
    var next = el("button", { type: "button", id: "next-button",
                              text: state.pos + 1 === cfg.trials.length ? "Finish" : "Next", onclick: function () {
      var why = problem(t, a); msg.textContent = why; if (why) return;
      a.time_ms += performance.now() - trialShownAt; stopAll(); state.pos += 1; save(); route();
    } });
    var prev = el("button", { type: "button", className: "secondary", id: "prev-button", text: "Previous",
                              onclick: function () { a.time_ms += performance.now() - trialShownAt; stopAll();
                                                     state.pos -= 1; save(); route(); } });
    prev.disabled = state.pos === 0;
    var refresh = function () { msg.textContent = ""; next.disabled = false; };
    var card = el("section", { className: "card trial", id: "trial", "data-trial": tid }, [
      el("h1", { text: "Trial " + (state.pos + 1) + " of " + cfg.trials.length })]);
    var transport = el("div", { className: "transport" }, [
      t.reference ? playButton("__ref__", "▶ Reference") : null,
      el("button", { type: "button", className: "secondary", text: "■ Stop", onclick: stopAll })]);
    card.appendChild(transport);
    var ids = state.stimOrder[tid];
    if (cfg.test === "mushra") {
      var scale = el("div", { className: "scale" }, MUSHRA_SCALE.map(function (s) { return el("div", { text: s }); }));
      var grid = el("div", { className: "mushra" }, [scale]);
      ids.forEach(function (sid, i) {
        var has = a.ratings[sid] !== undefined;
        var value = el("span", { className: "value" + (has ? "" : " unset"), text: has ? String(a.ratings[sid]) : "–" });
        var slider = el("input", { type: "range", min: "0", max: "100", step: "1", value: has ? String(a.ratings[sid]) : "0",
                                   "data-stimulus": sid, "data-letter": LETTERS[i] || String(i + 1),
                                   "aria-label": "rating of condition " + (LETTERS[i] || i + 1) });
        var onChange = function () {
          a.ratings[sid] = parseInt(slider.value, 10); value.textContent = slider.value; value.className = "value";
          save(); refresh();
        };
        slider.addEventListener("input", onChange); slider.addEventListener("change", onChange);
        grid.appendChild(el("div", { className: "stim" }, [
          el("span", { className: "letter", text: LETTERS[i] || String(i + 1) }), playButton(sid, "▶"), slider, value]));
      });
      card.appendChild(grid);
    } else if (cfg.test === "ab") {
      transport.appendChild(playButton(ids[0], "▶ A"));
      transport.appendChild(playButton(ids[1], "▶ B"));
      var opts = [[ids[0], "A sounds closer to the reference"], [ids[1], "B sounds closer to the reference"], ["none", "No preference"]];
      card.appendChild(el("div", { className: "choices" }, opts.map(function (o, i) {
        var r = el("input", { type: "radio", name: "choice", value: ["a", "b", "none"][i], "data-choice": ["a", "b", "none"][i] });
        r.checked = a.choice === o[0];
        r.addEventListener("change", function () { a.choice = o[0]; save(); refresh(); });
        return el("label", {}, [r, el("span", { text: o[1] })]);
      })));
    } else {
      transport.appendChild(playButton(ids[0], "▶ Play sample"));
      card.appendChild(el("div", { className: "choices" }, [1, 2, 3, 4, 5].map(function (v) {
        var r = el("input", { type: "radio", name: "rating", value: String(v), "data-rating": String(v) });
        r.checked = a.rating === v;
        r.addEventListener("change", function () { a.rating = v; save(); refresh(); });
        return el("label", {}, [r, el("span", { text: v + " " + MOS_LABELS[v] })]);
      })));
    }
    card.appendChild(el("div", { className: "nav" }, [prev, next, msg]));
    app.appendChild(card);
  }

  function showFinish() {
    clear(); progress();
    Object.keys(players).forEach(function (k) { players[k].pause(); });
    var res = results();
    app.appendChild(el("section", { className: "card", id: "finish" }, [
      el("h1", { text: "Thank you!" }),
      el("p", { text: "You completed " + res.trials.length + " of " + cfg.trials.length +
        " trials. Download your answers and send the file to the experimenter." }),
      el("p", {}, [el("button", { type: "button", id: "download-button", text: "Download results (JSON)", onclick: download }),
                   document.createTextNode(" "),
                   el("button", { type: "button", className: "secondary", id: "back-button", text: "Review answers",
                                  onclick: function () { state.pos = cfg.trials.length - 1; save(); route(); } }),
                   document.createTextNode(" "),
                   el("button", { type: "button", className: "secondary", id: "new-listener", text: "New listener",
                                  onclick: function () { try { localStorage.removeItem(KEY + ":current"); } catch (e) {} showStart(); } })])
    ]));
  }

  document.getElementById("download-partial").addEventListener("click", function () { if (state) download(); });
  // Resume the last listener automatically after a reload.
  try {
    var last = localStorage.getItem(KEY + ":current");
    if (last) state = loadSaved(last);
  } catch (e) { state = null; }
  route();
})();
