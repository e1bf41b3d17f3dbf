// AI pages: chat over /ws/chat (resuming from the last event after a reconnect) and the
// knowledge-base manager. Text from the server is only ever set with textContent.
(function () {
  "use strict";
  var csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function api(method, path, body) {
    var opts = { method: method, credentials: "same-origin", headers: { "X-CSRF-Token": csrf } };
    if (body instanceof FormData) {
      opts.body = body;
    } else if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    return fetch(path, opts).then(function (res) {
      return res.json().catch(function () { return {}; }).then(function (data) {
        if (!res.ok) {
          var fields = (data.errors || []).map(function (e) { return e.field + ": " + e.message; }).join("; ");
          throw new Error((data.detail || res.statusText) + (fields ? " " + fields : ""));
        }
        return data;
      });
    });
  }

  // ---- chat -------------------------------------------------------------------------------
  function chat(root) {
    var form = document.getElementById("chat-form");
    if (!form) return;
    var transcript = document.getElementById("transcript");
    var status = document.getElementById("chat-status");
    var agent = document.getElementById("agent");
    var input = document.getElementById("message");
    var conversation = null;
    var jobs = {}; // job id -> { bubble, text, sources, lastSeq, finished }
    var socket = null;
    var retry = 500;

    function say(text) { status.textContent = text; }

    function bubble(kind, text) {
      var b = el("div", "bubble bubble-" + kind);
      b.appendChild(el("div", "text", text));
      transcript.appendChild(b);
      transcript.scrollTop = transcript.scrollHeight;
      return b;
    }

    function connect() {
      var scheme = location.protocol === "https:" ? "wss://" : "ws://";
      socket = new WebSocket(scheme + location.host + "/ws/chat");
      socket.onopen = function () {
        retry = 500;
        say("");
        Object.keys(jobs).forEach(function (id) {
          var job = jobs[id];
          if (!job.finished) socket.send(JSON.stringify({ type: "subscribe", job_id: Number(id), after: job.lastSeq }));
        });
      };
      socket.onmessage = function (msg) { handle(JSON.parse(msg.data)); };
      socket.onclose = function () {
        say("Connection lost; reconnecting…");
        setTimeout(connect, retry);
        retry = Math.min(retry * 2, 10000);
      };
    }

    function handle(m) {
      if (m.type === "accepted") {
        conversation = m.conversation_id;
        jobs[m.job_id] = { bubble: bubble("assistant", ""), lastSeq: 0, finished: false };
        say("Thinking…");
        return;
      }
      if (m.type === "error" && m.job_id === undefined) { say(m.message); return; }
      var job = jobs[m.job_id];
      if (!job || m.seq === undefined || m.seq <= job.lastSeq) return;
      job.lastSeq = m.seq;
      var text = job.bubble.querySelector(".text");
      if (m.type === "token") {
        text.textContent += m.text;
        transcript.scrollTop = transcript.scrollHeight;
      } else if (m.type === "reset") {
        text.textContent = "";
      } else if (m.type === "tool_call") {
        job.bubble.insertBefore(el("div", "tool", "↳ " + m.name + (m.is_error ? " (failed)" : "")), text);
      } else if (m.type === "citation") {
        var list = job.bubble.querySelector(".sources") || job.bubble.appendChild(el("ol", "sources"));
        var item = el("li", "", m.document_title);
        item.value = m.index;
        item.title = m.snippet;
        list.appendChild(item);
      } else if (m.type === "done") {
        text.textContent = m.content;
        job.finished = true;
        say("");
      } else if (m.type === "error") {
        if (!m.retrying) { job.finished = true; job.bubble.classList.add("bubble-error"); text.textContent = m.message; }
        say(m.retrying ? "Retrying…" : "");
      }
    }

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var message = input.value.trim();
      if (!message || !socket || socket.readyState !== WebSocket.OPEN) return;
      bubble("user", message);
      socket.send(JSON.stringify({ type: "chat", agent_id: agent.value, conversation_id: conversation, message: message }));
      input.value = "";
    });
    document.getElementById("new-conversation").addEventListener("click", function () {
      conversation = null;
      transcript.textContent = "";
      input.focus();
    });
    agent.addEventListener("change", function () { conversation = null; });
    connect();
  }

  // ---- knowledge bases ----------------------------------------------------------------------
  function knowledge(root) {
    var status = document.getElementById("kb-status");
    var list = document.getElementById("kb-list");
    var detail = document.getElementById("kb-detail");
    var current = null;
    function say(text) { status.textContent = text; }
    function fail(e) { say(e.message); }

    function loadBases() {
      api("GET", "/api/knowledge").then(function (bases) {
        list.textContent = "";
        if (!bases.length) list.appendChild(el("li", "meta", "None yet."));
        bases.forEach(function (kb) {
          var b = el("button", "", kb.name);
          b.type = "button";
          b.setAttribute("aria-pressed", String(current === kb.id));
          b.appendChild(el("div", "meta", kb.document_count + " documents · " + kb.chunk_count + " chunks" + (kb.embedding_model ? " · " + kb.embedding_model : " · full text")));
          b.addEventListener("click", function () { open(kb); });
          var li = el("li");
          li.appendChild(b);
          list.appendChild(li);
        });
      }, fail);
    }

    function open(kb) {
      current = kb.id;
      detail.hidden = false;
      document.getElementById("kb-detail-name").textContent = kb.name;
      document.getElementById("search-results").textContent = "";
      loadDocuments();
      loadBases();
    }

    function loadDocuments() {
      var docs = document.getElementById("doc-list");
      api("GET", "/api/knowledge/" + current + "/documents").then(function (items) {
        docs.textContent = "";
        if (!items.length) docs.appendChild(el("li", "meta", "No documents yet."));
        items.forEach(function (d) {
          var li = el("li", "", d.title);
          li.appendChild(el("div", "meta", d.source + " · " + d.status + " · " + d.chunk_count + " chunks" + (d.error ? " · " + d.error : "")));
          docs.appendChild(li);
        });
      }, fail);
    }

    var create = document.getElementById("kb-create");
    if (create) create.addEventListener("submit", function (event) {
      event.preventDefault();
      api("POST", "/api/knowledge", { name: document.getElementById("kb-name").value }).then(function (kb) {
        document.getElementById("kb-name").value = "";
        open(kb);
      }, fail);
    });

    var addDoc = document.getElementById("doc-create");
    if (addDoc) addDoc.addEventListener("submit", function (event) {
      event.preventDefault();
      var body = {
        title: document.getElementById("doc-title").value || undefined,
        format: document.getElementById("doc-format").value,
        content: document.getElementById("doc-content").value
      };
      api("POST", "/api/knowledge/" + current + "/documents", body).then(function () {
        addDoc.reset();
        say("Added; it is being indexed.");
        loadDocuments();
      }, fail);
    });

    var upload = document.getElementById("doc-upload");
    if (upload) upload.addEventListener("submit", function (event) {
      event.preventDefault();
      var file = document.getElementById("doc-file").files[0];
      if (!file) return;
      var data = new FormData();
      data.append("file", file);
      api("POST", "/api/uploads", data).then(function (u) {
        return api("POST", "/api/knowledge/" + current + "/documents", { upload_id: u.id });
      }).then(function () {
        upload.reset();
        say("Uploaded; it is being indexed.");
        loadDocuments();
      }, fail);
    });

    document.getElementById("kb-search").addEventListener("submit", function (event) {
      event.preventDefault();
      var out = document.getElementById("search-results");
      api("POST", "/api/knowledge/" + current + "/search", { query: document.getElementById("search-query").value, top_k: 5 }).then(function (r) {
        out.textContent = "";
        say(r.mode === "hybrid" ? "Full text and vectors." : "Full text only (no embedding provider).");
        r.hits.forEach(function (h) {
          var li = el("li", "", h.content);
          li.appendChild(el("div", "meta", h.document_title + " · chars " + h.start_offset + "–" + h.end_offset + " · score " + h.score.toFixed(2)));
          out.appendChild(li);
        });
      }, fail);
    });
    loadBases();
  }

  var root = document.querySelector("[data-page]");
  if (!root) return;
  if (root.getAttribute("data-page") === "chat") chat(root);
  if (root.getAttribute("data-page") === "knowledge") knowledge(root);
})();
