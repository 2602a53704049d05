/* The demo room page: one WsGateway client joined to the room's channel. */
(function () {
  "use strict";
  var config = JSON.parse(document.getElementById("wsgateway-config").textContent);
  var statusEl = document.getElementById("status");
  var countEl = document.getElementById("connection-count");
  var messagesEl = document.getElementById("messages");
  var presenceEl = document.getElementById("presence");
  var form = document.getElementById("message-form");
  var input = document.getElementById("message-input");

  function setStatus(text) {
    statusEl.textContent = text;
  }

  function addMessage(data) {
    var item = document.createElement("li");
    item.className = "message";
    item.dataset.messageId = data.message_id || "";
    var who = document.createElement("b");
    who.textContent = data.user + ": ";
    var text = document.createElement("span");
    text.className = "text";
    text.textContent = data.text;
    item.appendChild(who);
    item.appendChild(text);
    messagesEl.appendChild(item);
    messagesEl.scrollTop = messagesEl.scrollHeight;
  }

  function showPresence(members) {
    // members: [{user_id, name, connections}] sorted by name (wsgateway's presence API).
    presenceEl.textContent = "";
    members.forEach(function (member) {
      var item = document.createElement("li");
      item.textContent = member.name;
      presenceEl.appendChild(item);
    });
  }

  if (!config.url) {
    setStatus("not provisioned");
    return;
  }
  // The token is bound to the session cookie, which the browser sends to the emulator only
  // when both use the same host name: a page opened on localhost connects to localhost too.
  var local = ["127.0.0.1", "localhost"];
  var socketUrl = new URL(config.url);
  if (local.indexOf(socketUrl.hostname) >= 0 && local.indexOf(window.location.hostname) >= 0) {
    socketUrl.hostname = window.location.hostname;
    config.url = socketUrl.toString();
  }

  var socket = WsGateway.fromConfig(config, {
    onStatus: function (detail) {
      setStatus(detail.status);
    },
    onOpen: function (detail) {
      countEl.textContent = String(detail.connections);
      statusEl.dataset.connections = String(detail.connections);
      socket.presence(config.channel); // who is here; member_added / member_removed keep it current
    },
    onMessage: function (data) {
      if (data.type === "message") {
        addMessage(data);
      }
    },
    onPresence: function (detail) {
      if (detail.channel === config.channel) showPresence(detail.members);
    },
    onClose: function (detail) {
      if (detail.willReconnect) {
        setStatus("reconnecting in " + detail.delay.toFixed(1) + " s");
      }
    },
  });
  // For the browser test and for poking around in the console.
  window.demoSocket = socket;
  window.demoConfig = config;

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var text = input.value.trim();
    if (!text) return;
    if (socket.send("send_message", { text: text })) {
      input.value = "";
    } else {
      setStatus("not connected; message not sent");
    }
  });

  socket.connect();
})();
