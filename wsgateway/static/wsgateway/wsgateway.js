/*
 * wsgateway.js — the browser client of wsgateway (no build step, no dependencies).
 *
 * Include it with {% load wsgateway_tags %}{% wsgateway_js %} (or a plain <script src>), then:
 *
 *   var socket = new WsGateway({
 *     tokenUrl: "/ws-token/",                 // POST here (CSRF cookie -> X-CSRFToken) for a one-time token
 *     websocketUrl: "wss://abc.execute-api.eu-west-1.amazonaws.com/production",
 *     channel: "room-lobby",                  // sent as ?channel=
 *     heartbeatSeconds: 300,                  // API Gateway closes idle sockets after 10 minutes
 *     onMessage: function (data) { ... },     // or socket.addEventListener("message", e => e.detail)
 *   });
 *   socket.connect();
 *   socket.send("send_message", {text: "hello"});   // -> {"action": "send_message", "text": "hello"}
 *                                                    //    (queued until the socket is open)
 *   socket.close();                                  // no reconnect after this
 *
 * Channels (docs/architecture.md §12): the socket is on `channel` and on every channel it
 * subscribes to; the server checks each channel's permission and answers with a message.
 *   socket.subscribe("room-2");        // -> {"action": "subscribe", "channel": "room-2"}; kept
 *                                      //    across reconnects (sent again on every open)
 *   socket.unsubscribe("room-2");
 *   socket.presence("room-2");         // ask who is there; the answer updates socket.members
 *   socket.members("room-2");          // [{user_id, name, connections?}] sorted by name
 * The "presence" event fires with {channel, members, change} whenever a channel's member list
 * changes: a presence answer, or a member_added / member_removed event (last writer wins per
 * user by "at", so a late-delivered older event or list never undoes a newer one).
 *
 * Behaviour:
 * - every (re)connection fetches a fresh token: tokens are single use and short-lived;
 * - an unexpected close (server, network, idle timeout, 2-hour lifetime) reconnects after an
 *   exponential backoff with full jitter: a random delay in [0, min(maxDelay, base * 2^attempt)],
 *   so a server restart is not followed by every browser reconnecting in the same instant;
 * - a heartbeat frame is sent every heartbeatSeconds while open: API Gateway has no ping/pong
 *   that resets its idle timer, only data frames do;
 * - messages carrying an already seen "message_id" are dropped (delivery is at-least-once);
 *   the last `dedupeSize` ids are remembered;
 * - a token answer of 401/403 (logged out, forbidden) stops reconnecting; call connect() again
 *   once that changed. Other failures (network, 429, 5xx) are retried with the same backoff;
 * - send() while the socket is (re)connecting queues the frame (at most `sendQueueSize`, oldest
 *   kept) and sends the queue in order once open; after close() nothing is queued;
 * - when the page is hidden for the back/forward cache ("pagehide" with persisted) the socket is
 *   closed cleanly, so nobody sees a user who left as present; "pageshow" from that cache
 *   reconnects (option closeOnPageHide, default true).
 * - recovery (option recovery, default true; docs/recovery.md): the client remembers, per
 *   channel, the newest "recovery_id" it delivered; on every open it sends
 *   {"action": "wsgateway.resume", "channels": {name: lastId or null}} before the queued frames.
 *   Until the server's replay of a channel is complete, live messages of that channel are held
 *   back; then the replayed and held messages are delivered merged in id order, without
 *   duplicates, followed by the live ones. When the server cannot bring a channel up to date
 *   (its window has passed, the socket may not read it, or no answer within
 *   recoveryTimeoutSeconds) a "recoveryGap" event says so: resynchronise from your own source.
 *
 * Events (EventTarget; the detail is in event.detail), also available as onX callbacks:
 *   "open"      {url, attempt}                      the socket is open
 *   "message"   parsed JSON object (or {raw: text}) a message from the server, deduplicated
 *   "close"     {code, reason, wasClean, willReconnect, delay}
 *   "error"     {stage: "token" | "socket" | "send", status?, message}
 *   "status"    {status: "connecting" | "open" | "reconnecting" | "closed"}
 *   "presence"  {channel, members, change}             a channel's member list changed
 *   "subscribed" / "unsubscribed"  {type, channel, …}  the server's answer to (un)subscribe
 *   "recovered" {channel, count}                     a channel's missed messages were delivered
 *   "recoveryGap" {channel, since, reason, latest}   some messages of a channel cannot be recovered
 */
(function (root) {
  "use strict";

  var DEFAULTS = {
    tokenUrl: "",
    websocketUrl: "",
    channel: null,
    route: null,
    tokenParam: "token",
    channelParam: "channel",
    heartbeatSeconds: 300,
    heartbeatMessage: { action: "heartbeat" },
    reconnect: true,
    backoffBaseSeconds: 1,
    backoffMaxSeconds: 30,
    dedupeSize: 1000,
    csrfCookieName: "csrftoken",
    csrfHeaderName: "X-CSRFToken",
    fetchOptions: null,
    sendQueueSize: 100,
    closeOnPageHide: true,
    recovery: true,
    recoveryTimeoutSeconds: 15,
  };

  // The recovery protocol's names (wsgateway/recovery.py, wsgateway/views/recovery.py).
  var RESUME = "wsgateway.resume";
  var REPLAY = "wsgateway.recovery";
  var GAP = "wsgateway.recovery_gap";
  var ID_FIELD = "recovery_id";
  var CHANNEL_FIELD = "recovery_channel";

  /** Stream ids ("<ms>-<seq>") compared as numbers; -1, 0 or 1. */
  function compareIds(a, b) {
    var x = String(a).split("-");
    var y = String(b).split("-");
    var ms = Number(x[0]) - Number(y[0]);
    if (ms !== 0) return ms < 0 ? -1 : 1;
    var seq = Number(x[1]) - Number(y[1]);
    return seq === 0 ? 0 : seq < 0 ? -1 : 1;
  }

  function readCookie(name) {
    var parts = (root.document && root.document.cookie ? root.document.cookie : "").split(";");
    for (var i = 0; i < parts.length; i++) {
      var item = parts[i].trim();
      if (item.indexOf(name + "=") === 0) {
        return decodeURIComponent(item.slice(name.length + 1));
      }
    }
    return null;
  }

  function fullDelay(attempt, baseSeconds, maxSeconds) {
    // Full jitter: uniform in [0, cap]; the cap grows exponentially until maxSeconds.
    var cap = Math.min(maxSeconds, baseSeconds * Math.pow(2, attempt));
    return Math.random() * cap;
  }

  /** A bounded set remembering the most recent ids (insertion order = age). */
  function RecentIds(limit) {
    this.limit = Math.max(1, limit | 0);
    this.items = new Set();
  }
  RecentIds.prototype.seen = function (id) {
    if (this.items.has(id)) {
      return true;
    }
    this.items.add(id);
    if (this.items.size > this.limit) {
      // Sets iterate in insertion order: the first value is the oldest.
      this.items.delete(this.items.values().next().value);
    }
    return false;
  };

  function WsGateway(options) {
    var opts = {};
    var key;
    for (key in DEFAULTS) {
      opts[key] = DEFAULTS[key];
    }
    for (key in options || {}) {
      opts[key] = options[key];
    }
    if (!opts.websocketUrl) {
      throw new Error("WsGateway: websocketUrl is required");
    }
    if (!(opts.heartbeatSeconds > 0 && opts.heartbeatSeconds < 600)) {
      throw new Error("WsGateway: heartbeatSeconds must be between 0 and 600 (API Gateway's idle timeout)");
    }
    this.options = opts;
    this.socket = null;
    this.status = "closed";
    this.attempt = 0;
    this.connections = 0;
    this._target = typeof EventTarget === "function" ? new EventTarget() : null;
    this._recent = new RecentIds(opts.dedupeSize);
    this._closedByUser = false;
    this._heartbeat = null;
    this._retryTimer = null;
    this._generation = 0;
    this._queue = [];
    this._hiddenForCache = false;
    this._pageListeners = null;
    this._subscriptions = [];
    this._presence = {};
    this._lastIds = {};
    this._recovering = {};
    if (opts.closeOnPageHide) this._watchPageLifecycle();
  }

  /** True while a reconnect is scheduled (a timer is pending). */
  Object.defineProperty(WsGateway.prototype, "reconnectPending", {
    get: function () {
      return this._retryTimer !== null;
    },
  });

  /** Frames waiting for the socket to open. */
  Object.defineProperty(WsGateway.prototype, "queuedCount", {
    get: function () {
      return this._queue.length;
    },
  });

  WsGateway.prototype._watchPageLifecycle = function () {
    var self = this;
    if (!root.addEventListener) return;
    // A page entering the back/forward cache keeps its JavaScript state but must not keep a live
    // socket: API Gateway (and every other member's presence list) would still count it.
    var onHide = function (event) {
      if (!event.persisted || self._closedByUser) return;
      self._hiddenForCache = true;
      self._generation += 1;
      self._clearRetry();
      self._stopHeartbeat();
      self._abandonRecovery();
      var socket = self.socket;
      self.socket = null;
      if (socket && (socket.readyState === 0 || socket.readyState === 1)) socket.close(1000, "page hidden");
      self._setStatus("closed");
    };
    var onShow = function (event) {
      if (!event.persisted || !self._hiddenForCache) return;
      self._hiddenForCache = false;
      self.connect();
    };
    root.addEventListener("pagehide", onHide);
    root.addEventListener("pageshow", onShow);
    this._pageListeners = { pagehide: onHide, pageshow: onShow };
  };

  WsGateway.prototype._clearRetry = function () {
    if (this._retryTimer) {
      clearTimeout(this._retryTimer);
      this._retryTimer = null;
    }
  };

  WsGateway.RecentIds = RecentIds;
  WsGateway.backoffDelay = fullDelay;
  WsGateway.compareIds = compareIds;

  /** The newest recovery id delivered per channel (what the next resume asks after). */
  Object.defineProperty(WsGateway.prototype, "lastIds", {
    get: function () {
      var copy = {};
      for (var name in this._lastIds) copy[name] = this._lastIds[name];
      return copy;
    },
  });

  /** Channels whose replay is still awaited. */
  Object.defineProperty(WsGateway.prototype, "recovering", {
    get: function () {
      return Object.keys(this._recovering);
    },
  });

  WsGateway.prototype.addEventListener = function (type, listener) {
    if (this._target) {
      this._target.addEventListener(type, listener);
    }
  };

  WsGateway.prototype.removeEventListener = function (type, listener) {
    if (this._target) {
      this._target.removeEventListener(type, listener);
    }
  };

  WsGateway.prototype._emit = function (type, detail) {
    var callback = this.options["on" + type.charAt(0).toUpperCase() + type.slice(1)];
    if (typeof callback === "function") {
      try {
        callback.call(this, detail);
      } catch (err) {
        if (root.console) root.console.error("WsGateway: " + type + " callback failed", err);
      }
    }
    if (this._target && typeof CustomEvent === "function") {
      this._target.dispatchEvent(new CustomEvent(type, { detail: detail }));
    }
  };

  WsGateway.prototype._setStatus = function (status) {
    if (this.status !== status) {
      this.status = status;
      this._emit("status", { status: status });
    }
  };

  /** Fetch a token (when tokenUrl is set) and open the socket. Returns a Promise. */
  WsGateway.prototype.connect = function () {
    this._closedByUser = false;
    this._hiddenForCache = false;
    this._clearRetry();
    if (this.socket && (this.socket.readyState === 0 || this.socket.readyState === 1)) {
      return Promise.resolve(this);
    }
    var generation = ++this._generation;
    var self = this;
    this._setStatus(this.connections > 0 || this.attempt > 0 ? "reconnecting" : "connecting");
    return this._fetchToken().then(
      function (token) {
        if (self._closedByUser || generation !== self._generation) return self;
        self._open(token);
        return self;
      },
      function (err) {
        if (self._closedByUser || generation !== self._generation) return self;
        var status = err.status || null;
        self._emit("error", { stage: "token", status: status, message: String(err.message || err) });
        if (status === 401 || status === 403) {
          // Logged out or forbidden: retrying cannot help until the page changes something.
          self._closedByUser = true;
        }
        self._scheduleReconnect({ code: 0, reason: "token request failed", wasClean: false });
        return self;
      }
    );
  };

  WsGateway.prototype._fetchToken = function () {
    var opts = this.options;
    if (!opts.tokenUrl) {
      return Promise.resolve(null);
    }
    var headers = { Accept: "application/json" };
    var csrf = readCookie(opts.csrfCookieName);
    if (csrf) {
      headers[opts.csrfHeaderName] = csrf;
    }
    var init = { method: "POST", credentials: "same-origin", headers: headers, cache: "no-store" };
    if (opts.fetchOptions) {
      for (var key in opts.fetchOptions) init[key] = opts.fetchOptions[key];
    }
    return root.fetch(opts.tokenUrl, init).then(function (response) {
      return response.json().then(
        function (body) {
          if (!response.ok || !body || typeof body.token !== "string") {
            var error = new Error((body && body.message) || "token request failed (" + response.status + ")");
            error.status = response.status;
            throw error;
          }
          return body.token;
        },
        function () {
          var error = new Error("token endpoint answered " + response.status + " without JSON");
          error.status = response.status;
          throw error;
        }
      );
    });
  };

  WsGateway.prototype._url = function (token) {
    var opts = this.options;
    var query = [];
    if (token !== null && token !== undefined) {
      query.push(encodeURIComponent(opts.tokenParam) + "=" + encodeURIComponent(token));
    }
    if (opts.channel !== null && opts.channel !== undefined && opts.channel !== "") {
      query.push(encodeURIComponent(opts.channelParam) + "=" + encodeURIComponent(opts.channel));
    }
    if (!query.length) return opts.websocketUrl;
    return opts.websocketUrl + (opts.websocketUrl.indexOf("?") >= 0 ? "&" : "?") + query.join("&");
  };

  WsGateway.prototype._open = function (token) {
    var self = this;
    var url = this._url(token);
    var socket;
    try {
      socket = new root.WebSocket(url);
    } catch (err) {
      this._emit("error", { stage: "socket", message: String(err.message || err) });
      this._scheduleReconnect({ code: 0, reason: "invalid socket URL", wasClean: false });
      return;
    }
    this.socket = socket;
    socket.onopen = function () {
      if (self.socket !== socket) return;
      self.connections += 1;
      var attempt = self.attempt;
      self.attempt = 0;
      self._startHeartbeat();
      self._setStatus("open");
      self._emit("open", { url: self.options.websocketUrl, attempt: attempt, connections: self.connections });
      self._resubscribe(socket);
      self._resume(socket);
      self._flushQueue(socket);
    };
    socket.onmessage = function (event) {
      if (self.socket !== socket) return;
      self._receive(event.data);
    };
    socket.onerror = function () {
      if (self.socket !== socket) return;
      self._emit("error", { stage: "socket", message: "WebSocket error" });
    };
    socket.onclose = function (event) {
      if (self.socket !== socket) return;
      self.socket = null;
      self._stopHeartbeat();
      self._abandonRecovery();
      var info = { code: event.code, reason: event.reason, wasClean: event.wasClean };
      if (self._closedByUser || !self.options.reconnect) {
        info.willReconnect = false;
        self._queue = [];
        self._setStatus("closed");
        self._emit("close", info);
        return;
      }
      self._scheduleReconnect(info);
    };
  };

  WsGateway.prototype._receive = function (raw) {
    var data;
    try {
      data = JSON.parse(raw);
    } catch (err) {
      this._emit("message", { raw: raw });
      return;
    }
    if (data && typeof data === "object" && !Array.isArray(data) && this.options.recovery) {
      if (data.type === REPLAY) return this._onReplay(data);
      if (data.type === GAP) return this._onGap(data);
      if (data.type === RESUME && data.message_id === undefined) return; // the handler's answer
      var channel = data[CHANNEL_FIELD];
      if (typeof data[ID_FIELD] === "string" && this._recovering[channel]) {
        this._recovering[channel].held.push(data); // delivered once the replay is complete
        return;
      }
    }
    this._deliver(data);
  };

  /** Emit one message unless its message_id was seen (false); remember its channel position. */
  WsGateway.prototype._deliver = function (data) {
    if (data && typeof data === "object" && typeof data.message_id === "string") {
      if (this._recent.seen(data.message_id)) {
        return false; // a redelivery: at-least-once delivery may repeat a message
      }
    }
    if (data && typeof data[ID_FIELD] === "string" && typeof data[CHANNEL_FIELD] === "string") {
      var last = this._lastIds[data[CHANNEL_FIELD]];
      if (!last || compareIds(data[ID_FIELD], last) > 0) this._lastIds[data[CHANNEL_FIELD]] = data[ID_FIELD];
    }
    this._emit("message", data);
    if (data && typeof data === "object" && typeof data.type === "string") this._channelEvent(data);
    return true;
  };

  // --- channels and presence -------------------------------------------------------------

  /** Subscribe to `channel` now (or on open) and after every reconnect. Returns true. */
  WsGateway.prototype.subscribe = function (channel) {
    if (this._subscriptions.indexOf(channel) < 0) this._subscriptions.push(channel);
    if (this.socket && this.socket.readyState === 1) {
      this.send("subscribe", Object.assign({ channel: channel }, this._recoveryFields(channel)));
    }
    return true; // otherwise sent by _resubscribe once open
  };

  /** Stop receiving `channel` (the socket's own channel stays). */
  WsGateway.prototype.unsubscribe = function (channel) {
    var at = this._subscriptions.indexOf(channel);
    if (at >= 0) this._subscriptions.splice(at, 1);
    delete this._presence[channel];
    return this.send("unsubscribe", { channel: channel });
  };

  /** The channels subscribed to (besides the socket's own). */
  Object.defineProperty(WsGateway.prototype, "subscriptions", {
    get: function () {
      return this._subscriptions.slice();
    },
  });

  /** Ask who is on `channel` (default: the socket's own); the answer fires "presence". */
  WsGateway.prototype.presence = function (channel) {
    return this.send("presence", channel ? { channel: channel } : {});
  };

  /** The members of `channel` as last known: [{user_id, name, connections}] sorted by name. */
  WsGateway.prototype.members = function (channel) {
    var state = this._presence[channel];
    if (!state) return [];
    var list = [];
    for (var id in state.members) list.push(state.members[id]);
    list.sort(function (a, b) {
      return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
    });
    return list;
  };

  WsGateway.prototype._resubscribe = function (socket) {
    // Subscriptions live as long as a connection: a new socket subscribes again.
    for (var i = 0; i < this._subscriptions.length; i++) {
      var channel = this._subscriptions[i];
      socket.send(this._frame("subscribe", Object.assign({ channel: channel }, this._recoveryFields(channel))));
    }
  };

  WsGateway.prototype._channelEvent = function (data) {
    var type = data.type;
    if (type === "subscribed" || type === "unsubscribed") {
      this._emit(type, data);
      return;
    }
    if (type !== "presence" && type !== "member_added" && type !== "member_removed") return;
    if (typeof data.channel !== "string" || typeof data.at !== "string") return;
    var channel = data.channel;
    var state = this._presence[channel] || (this._presence[channel] = { members: {}, at: {}, since: "" });
    if (type === "presence") {
      this._applyList(state, data);
    } else if (!this._applyMember(state, data)) {
      return;
    }
    this._emit("presence", { channel: channel, members: this.members(channel), change: data });
  };

  // Presence is last-writer-wins per user, ordered by "at" (the server's time of each decision,
  // and of the start of a list's read; same format, so strings compare in time order): a list
  // says "present" or "absent" for every user as of its "at", unless a newer event is known.
  WsGateway.prototype._applyList = function (state, data) {
    var listed = {};
    var members = data.members || [];
    for (var i = 0; i < members.length; i++) listed[String(members[i].user_id)] = members[i];
    var ids = Object.keys(state.members).concat(Object.keys(listed));
    for (var j = 0; j < ids.length; j++) {
      var id = ids[j];
      if (state.at[id] && state.at[id] > data.at) continue; // a newer event decides this user
      if (listed[id]) state.members[id] = listed[id];
      else delete state.members[id];
      state.at[id] = data.at;
    }
    if (data.at > state.since) state.since = data.at;
  };

  WsGateway.prototype._applyMember = function (state, event) {
    var id = String(event.user.id);
    // Older than what is known of this user, or than the last list: a late delivery, ignored.
    if ((state.at[id] && state.at[id] >= event.at) || event.at < state.since) return false;
    state.at[id] = event.at;
    if (event.type === "member_added") {
      if (!state.members[id]) state.members[id] = { user_id: event.user.id, name: event.user.name };
    } else {
      delete state.members[id];
    }
    return true;
  };

  /** On open: ask for what each known channel missed (null: where the channel is now). Channels
   * the client re-subscribes to are resumed by their subscribe frames (_recoveryFields): a
   * resume could reach the server before the subscription and be refused. */
  WsGateway.prototype._resume = function (socket) {
    var opts = this.options;
    if (!opts.recovery) return;
    var subscribed = this._subscriptions || [];
    var channels = {};
    var names = [];
    for (var name in this._lastIds) {
      if (subscribed.indexOf(name) >= 0 && name !== opts.channel) continue;
      channels[name] = this._lastIds[name];
      names.push(name);
    }
    if (opts.channel && !(opts.channel in channels)) {
      channels[opts.channel] = null;
      names.push(opts.channel);
    }
    if (!names.length) return;
    var request = this._beginRecovery(names);
    socket.send(this._frame(RESUME, { channels: channels, request: request }));
  };

  /** Fields to add to a subscribe frame so that the server replays what the channel missed
   * ({since, request}; {} with recovery off). Marks the channel as recovering. */
  WsGateway.prototype._recoveryFields = function (channel) {
    if (!this.options.recovery) return {};
    var since = this._lastIds[channel] || null;
    return { since: since, request: this._beginRecovery([channel]) };
  };

  /** Hold back the live messages of `names` until their replay (or a gap) arrives; the tag the
   * server echoes in its frames. */
  WsGateway.prototype._beginRecovery = function (names) {
    var request = "r" + this.connections + "-" + Math.random().toString(36).slice(2, 10);
    var self = this;
    for (var i = 0; i < names.length; i++) {
      var previous = this._recovering[names[i]];
      if (previous) clearTimeout(previous.timer);
      var state = { request: request, since: this._lastIds[names[i]] || null, parts: {}, count: 0, expected: null };
      state.held = previous ? previous.held : [];
      state.timer = setTimeout(
        (function (channel) {
          return function () {
            self._finishRecovery(channel, { reason: "timeout", latest: "" });
          };
        })(names[i]),
        this.options.recoveryTimeoutSeconds * 1000
      );
      this._recovering[names[i]] = state;
    }
    return request;
  };

  WsGateway.prototype._onReplay = function (frame) {
    var state = this._recovering[frame.channel];
    if (!state || frame.request !== state.request) return; // a late frame of an earlier request
    if (!state.parts[frame.part]) {
      state.parts[frame.part] = frame.messages || [];
      state.count += 1;
    }
    state.expected = frame.parts;
    state.latest = frame.latest;
    if (state.count >= state.expected) this._finishRecovery(frame.channel, null);
  };

  WsGateway.prototype._onGap = function (frame) {
    var state = this._recovering[frame.channel];
    if (!state || frame.request !== state.request) return;
    this._finishRecovery(frame.channel, { reason: frame.reason, latest: frame.latest || "" });
  };

  /** Deliver a channel's replayed and held messages merged in id order (gap: held ones only,
   * after the recoveryGap event), and let its live messages through again. */
  WsGateway.prototype._finishRecovery = function (channel, gap) {
    var state = this._recovering[channel];
    if (!state) return;
    delete this._recovering[channel];
    clearTimeout(state.timer);
    var messages = [];
    if (!gap) {
      var numbers = Object.keys(state.parts).map(Number).sort(function (a, b) { return a - b; });
      for (var i = 0; i < numbers.length; i++) messages = messages.concat(state.parts[numbers[i]]);
      if (!this._lastIds[channel] && state.latest) this._lastIds[channel] = state.latest;
    } else {
      var last = this._lastIds[channel];
      if (gap.latest && (!last || compareIds(gap.latest, last) > 0)) this._lastIds[channel] = gap.latest;
      this._emit("recoveryGap", { channel: channel, since: state.since, reason: gap.reason, latest: gap.latest });
    }
    messages = messages.concat(state.held);
    messages.sort(function (a, b) {
      return compareIds(a[ID_FIELD], b[ID_FIELD]);
    });
    var delivered = 0;
    for (var j = 0; j < messages.length; j++) {
      if (this._deliver(messages[j])) delivered += 1;
    }
    if (!gap) this._emit("recovered", { channel: channel, count: delivered });
  };

  /** The socket closed mid-recovery: forget the held messages (the next resume asks after the
   * same ids, so they come again) and the pending requests. */
  WsGateway.prototype._abandonRecovery = function () {
    for (var channel in this._recovering) clearTimeout(this._recovering[channel].timer);
    this._recovering = {};
  };

  WsGateway.prototype._scheduleReconnect = function (info) {
    var self = this;
    if (this._closedByUser || !this.options.reconnect) {
      info.willReconnect = false;
      this._queue = [];
      this._setStatus("closed");
      this._emit("close", info);
      return;
    }
    var delay = fullDelay(this.attempt, this.options.backoffBaseSeconds, this.options.backoffMaxSeconds);
    this.attempt += 1;
    info.willReconnect = true;
    info.delay = delay;
    this._setStatus("reconnecting");
    this._emit("close", info);
    this._retryTimer = setTimeout(function () {
      self._retryTimer = null;
      if (!self._closedByUser) self.connect();
    }, delay * 1000);
  };

  WsGateway.prototype._startHeartbeat = function () {
    var self = this;
    this._stopHeartbeat();
    this._heartbeat = setInterval(function () {
      if (self.socket && self.socket.readyState === 1) {
        self.socket.send(JSON.stringify(self.options.heartbeatMessage));
      }
    }, this.options.heartbeatSeconds * 1000);
  };

  WsGateway.prototype._stopHeartbeat = function () {
    if (this._heartbeat) {
      clearInterval(this._heartbeat);
      this._heartbeat = null;
    }
  };

  WsGateway.prototype._flushQueue = function (socket) {
    var waiting = this._queue;
    this._queue = [];
    for (var i = 0; i < waiting.length; i++) socket.send(waiting[i]);
  };

  /**
   * Send {action, ...payload}. With the `route` option the frame is
   * {action: route, handler: action, ...payload} (a custom API Gateway route carrying the handler).
   * Returns true when sent or queued: while the socket is (re)connecting the frame waits (at most
   * `sendQueueSize` frames) and goes out in order once open. Returns false when the client is
   * closed (after close(), a refused token, or with reconnect off) or the queue is full.
   */
  WsGateway.prototype.send = function (action, payload) {
    var frame = this._frame(action, payload);
    if (this.socket && this.socket.readyState === 1) {
      this.socket.send(frame);
      return true;
    }
    if (this.status === "closed" || this._closedByUser) {
      return false;
    }
    if (this._queue.length >= this.options.sendQueueSize) {
      this._emit("error", { stage: "send", message: "send queue full (" + this.options.sendQueueSize + ")" });
      return false;
    }
    this._queue.push(frame);
    return true;
  };

  WsGateway.prototype._frame = function (action, payload) {
    var frame = {};
    for (var key in payload || {}) frame[key] = payload[key];
    if (this.options.route && this.options.route !== "default" && this.options.route !== action) {
      frame.action = this.options.route;
      frame.handler = action;
    } else {
      frame.action = action;
    }
    return JSON.stringify(frame);
  };

  /** Close for good: no reconnect until connect() is called again. */
  WsGateway.prototype.close = function (code, reason) {
    this._closedByUser = true;
    this._hiddenForCache = false;
    this._generation += 1;
    this._queue = [];
    this._abandonRecovery();
    this._clearRetry();
    this._stopHeartbeat();
    var socket = this.socket;
    if (socket && (socket.readyState === 0 || socket.readyState === 1)) {
      socket.close(code || 1000, reason || "");
    } else {
      this.socket = null;
      this._setStatus("closed");
    }
  };

  /** Build a client from the JSON the template mixin renders ({{ websocket_config|json_script }}). */
  WsGateway.fromConfig = function (config, extra) {
    var options = {
      websocketUrl: config.url,
      tokenUrl: config.token_url,
      channel: config.channel,
      route: config.route,
      tokenParam: config.token_param || DEFAULTS.tokenParam,
      channelParam: config.channel_param || DEFAULTS.channelParam,
    };
    for (var key in extra || {}) options[key] = extra[key];
    return new WsGateway(options);
  };

  root.WsGateway = WsGateway;
})(typeof window !== "undefined" ? window : globalThis);
