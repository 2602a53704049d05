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
    presenceEl.textContent = "";
    members.forEach(function (name) {
      var item = document.createElement("li");
      item.textContent = name;
      presenceEl.appendChild(item);
    });
  }

  if (!config.url) {
    setStatus("not provisioned");
    return;
  }

  var socket = WsGateway.fromConfig(config, {
    onStatus: function (detail) {
      setStatus(detail.status);
    },
    onOpen: function (detail) {
      countEl.textContent = String(detail.connections);
      statusEl.dataset.connections = String(detail.connections);
      socket.send("who", {});
    },
    onMessage: function (data) {
      if (data.type === "message") {
        addMessage(data);
      } else if (data.type === "presence") {
        showPresence(data.members || []);
      }
    },
    onClose: function (detail) {
      if (detail.willReconnect) {
        setStatus("reconnecting in " + detail.delay.toFixed(1) + " s");
      }
    },
  });
  window.demoSocket = socket; // for the browser test and for poking around in the console

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
