/* Drawing uploads (上传图纸): chunked, resumable, with a SHA-256 per chunk. No framework, no build step.
 *
 * An upload id is remembered in localStorage under the submission, file name, size and modification
 * time. When the same file is chosen again after a reload, the server is asked which chunks it holds
 * and only the others are sent. Browsers cannot reopen a file by themselves, so the user chooses it again.
 */
(function () {
  "use strict";

  var zone = document.getElementById("dropzone");
  var input = document.getElementById("file-input");
  var list = document.getElementById("upload-list");
  if (!zone || !input || !list) { return; }

  var config = JSON.parse(zone.getAttribute("data-config"));
  var messages = JSON.parse(document.getElementById("upload-messages").textContent);
  var csrf = document.querySelector('meta[name="csrf-token"]').getAttribute("content");
  var english = (document.documentElement.lang || "").indexOf("en") === 0;
  var API = "/api/v1";
  var PARALLEL_FILES = 2;
  var MAX_ATTEMPTS = 6;
  var queue = [];
  var active = 0;

  function HttpError(status, body) {
    this.status = status;
    this.body = body;
    var error = body && body.error;
    this.message = error ? (english ? error.message_en : error.message_zh) : messages.failed + " (" + status + ")";
  }

  function transient(error) {
    // Network failures (no status), timeouts, rate limits and server-side outages are worth retrying.
    return !error.status || error.status === 408 || error.status === 429 || error.status >= 500;
  }

  function wait(ms) { return new Promise(function (resolve) { setTimeout(resolve, ms); }); }

  function request(method, url, body, headers) {
    var options = { method: method, credentials: "same-origin", headers: Object.assign({ "X-CSRF-Token": csrf }, headers || {}) };
    if (body !== undefined) { options.body = body; }
    return fetch(url, options).then(function (response) {
      return response.json().catch(function () { return null; }).then(function (data) {
        if (!response.ok) { throw new HttpError(response.status, data); }
        return data;
      });
    }, function () { throw new HttpError(0, null); });
  }

  function withRetry(task, ui) {
    var attempt = 0;
    function run() {
      attempt += 1;
      return task().catch(function (error) {
        if (!transient(error) || attempt >= MAX_ATTEMPTS) { throw error; }
        var delay = Math.min(30000, 1000 * Math.pow(2, attempt - 1)) * (0.75 + Math.random() / 2);
        ui.state(messages.retrying + " (" + attempt + "/" + (MAX_ATTEMPTS - 1) + ")");
        return wait(delay).then(run);
      });
    }
    return run();
  }

  function hex(buffer) {
    var bytes = new Uint8Array(buffer);
    var out = "";
    for (var i = 0; i < bytes.length; i++) { out += (bytes[i] < 16 ? "0" : "") + bytes[i].toString(16); }
    return out;
  }

  function sha256(buffer) {
    // crypto.subtle exists only in secure contexts (https, localhost); elsewhere the server hashes alone.
    if (!window.crypto || !window.crypto.subtle) { return Promise.resolve(null); }
    return window.crypto.subtle.digest("SHA-256", buffer).then(hex);
  }

  function storageKey(file) {
    return "liantu.upload:" + config.submission_id + ":" + file.name + ":" + file.size + ":" + file.lastModified;
  }

  function remember(key, value) {
    try { if (value) { localStorage.setItem(key, value); } else { localStorage.removeItem(key); } } catch (e) { /* private mode */ }
  }

  function recall(key) {
    try { return localStorage.getItem(key); } catch (e) { return null; }
  }

  function row(file) {
    var item = document.createElement("li");
    item.className = "upload-item";
    item.setAttribute("data-testid", "upload-item");
    var name = document.createElement("span");
    name.className = "upload-name";
    name.textContent = file.name;
    name.title = file.name;
    var bar = document.createElement("progress");
    bar.max = 100;
    bar.value = 0;
    var state = document.createElement("span");
    state.className = "upload-state";
    state.setAttribute("data-testid", "upload-state");
    item.appendChild(name);
    item.appendChild(bar);
    item.appendChild(state);
    list.appendChild(item);
    return {
      progress: function (fraction) {
        var percent = Math.floor(fraction * 100);
        bar.value = percent;
        item.setAttribute("data-progress", String(percent));
      },
      state: function (text) { state.textContent = text; },
      finish: function (text, ok) {
        item.classList.add(ok ? "done" : "failed");
        state.textContent = text;
      }
    };
  }

  function open(file, key, ui) {
    var known = recall(key);
    var fresh = function () {
      var body = JSON.stringify({ file_name: file.name, size: file.size, chunk_size: config.chunk_size });
      return withRetry(function () {
        return request("POST", API + "/submissions/" + config.submission_id + "/uploads", body, { "Content-Type": "application/json" });
      }, ui).then(function (status) { remember(key, status.upload_id); return status; });
    };
    if (!known) { return fresh(); }
    return withRetry(function () { return request("GET", API + "/uploads/" + encodeURIComponent(known)); }, ui)
      .then(function (status) {
        if (status.state !== "open") { remember(key, null); return fresh(); }
        ui.state(messages.resuming);
        return status;
      }, function (error) {
        if (transient(error)) { throw error; }
        remember(key, null);
        return fresh();
      });
  }

  function sendChunks(file, status, ui) {
    var have = {};
    status.received.forEach(function (index) { have[index] = true; });
    var size = status.chunk_size;
    var done = 0;
    status.received.forEach(function (index) { done += Math.min(size, file.size - index * size); });
    ui.progress(done / file.size);
    var index = 0;
    function next() {
      while (index < status.chunk_count && have[index]) { index += 1; }
      if (index >= status.chunk_count) { return Promise.resolve(); }
      var current = index;
      index += 1;
      var blob = file.slice(current * size, Math.min(file.size, (current + 1) * size));
      return blob.arrayBuffer().then(function (buffer) {
        return sha256(buffer).then(function (digest) {
          var headers = { "Content-Type": "application/octet-stream" };
          if (digest) { headers["X-Chunk-SHA256"] = digest; }
          return withRetry(function () {
            return request("PUT", API + "/uploads/" + status.upload_id + "/chunks/" + current, buffer, headers);
          }, ui);
        }).then(function () {
          done += buffer.byteLength;
          // The last few percent belong to joining and checking on the server.
          ui.progress(0.98 * done / file.size);
          ui.state(messages.uploading);
        });
      }).then(next);
    }
    return next();
  }

  function upload(file, ui) {
    if (file.size === 0) { return Promise.reject(new HttpError(400, { error: { message_zh: messages.empty, message_en: messages.empty } })); }
    if (file.size > config.max_bytes) { return Promise.reject(new HttpError(413, { error: { message_zh: messages.too_large, message_en: messages.too_large } })); }
    var key = storageKey(file);
    ui.state(messages.preparing);
    return open(file, key, ui).then(function (status) {
      return sendChunks(file, status, ui).then(function () {
        ui.state(messages.joining);
        return withRetry(function () { return request("POST", API + "/uploads/" + status.upload_id + "/complete"); }, ui);
      });
    }).then(function (drawing) {
      remember(key, null);
      ui.progress(1);
      ui.finish(drawing.duplicate ? messages.duplicate : messages.done, true);
    });
  }

  function refresh(pollsLeft) {
    return fetch(window.location.href, { credentials: "same-origin" })
      .then(function (response) { return response.text(); })
      .then(function (html) {
        var page = new DOMParser().parseFromString(html, "text/html");
        ["file-list", "submit-area"].forEach(function (id) {
          var fresh = page.getElementById(id);
          var here = document.getElementById(id);
          if (fresh && here) { here.replaceWith(fresh); }
        });
        var pending = document.querySelector('#file-list [data-verification="queued"], #file-list [data-verification="running"]');
        if (pending && pollsLeft > 0 && active === 0) { setTimeout(function () { refresh(pollsLeft - 1); }, 3000); }
      })
      .catch(function () { /* the list is refreshed again after the next upload */ });
  }

  function pump() {
    while (active < PARALLEL_FILES && queue.length) {
      var job = queue.shift();
      active += 1;
      upload(job.file, job.ui).catch(function (ui) {
        return function (error) { ui.finish(messages.failed + "：" + (error.message || ""), false); };
      }(job.ui)).then(function () {
        active -= 1;
        if (active === 0 && queue.length === 0) { refresh(40); }
        pump();
      });
    }
  }

  function add(files) {
    Array.prototype.forEach.call(files, function (file) { queue.push({ file: file, ui: row(file) }); });
    pump();
  }

  input.addEventListener("change", function () { add(input.files); input.value = ""; });
  ["dragenter", "dragover"].forEach(function (name) {
    zone.addEventListener(name, function (event) { event.preventDefault(); zone.classList.add("dragover"); });
  });
  ["dragleave", "drop"].forEach(function (name) {
    zone.addEventListener(name, function (event) { event.preventDefault(); zone.classList.remove("dragover"); });
  });
  zone.addEventListener("drop", function (event) {
    if (event.dataTransfer && event.dataTransfer.files.length) { add(event.dataTransfer.files); }
  });
  window.addEventListener("beforeunload", function (event) {
    if (active > 0 || queue.length > 0) { event.preventDefault(); event.returnValue = messages.leave; }
  });
})();
