// BrokerDesk's live pages (infra/live): when the server's stream says something of this page changed, this script
// fetches the page again (same address, same filters) and swaps in the parts marked data-live (each with an id).
// Rows (data-id) that were not there before are marked for a moment (class live-new). A part marked
// data-live-notice (a later page of a list) is only shown. The page says which stream and event through the
// attributes of its script element: data-stream (the stream's address), data-event (the event's name), data-open
// and data-stopped (what #live-status says when the stream opens and when it stops for good). Without JavaScript,
// or when the stream is unavailable, the page is the same with a reload.
(function () {
  "use strict";
  var me = document.currentScript;
  var streamURL = me && me.getAttribute("data-stream");
  var eventName = me && me.getAttribute("data-event");
  var regions = document.querySelectorAll("[data-live][id]");
  var notices = document.querySelectorAll("[data-live-notice]");
  if (!streamURL || !eventName || (!regions.length && !notices.length) || !window.EventSource || !window.fetch || !window.DOMParser) {
    return;
  }
  var words = { open: me.getAttribute("data-open"), stopped: me.getAttribute("data-stopped") };
  var status = document.getElementById("live-status");
  var say = function (text) {
    if (status && text) {
      status.textContent = text;
    }
  };
  var timer = null;
  var busy = false;
  var again = false;

  function rowIDs(el) {
    var ids = {};
    el.querySelectorAll("[data-id]").forEach(function (r) {
      ids[r.getAttribute("data-id")] = true;
    });
    return ids;
  }

  function refresh() {
    timer = null;
    if (busy) {
      again = true;
      return;
    }
    busy = true;
    fetch(window.location.href, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (res) {
        if (!res.ok) {
          throw new Error("status " + res.status);
        }
        return res.text();
      })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html");
        regions.forEach(function (el) {
          var next = fresh.getElementById(el.id);
          if (!next) {
            return;
          }
          var before = rowIDs(el);
          el.innerHTML = next.innerHTML;
          el.querySelectorAll("[data-id]").forEach(function (r) {
            if (!before[r.getAttribute("data-id")]) {
              r.classList.add("live-new");
            }
          });
        });
        say("Updated at " + new Date().toLocaleTimeString() + ".");
      })
      .catch(function () {
        say("Could not update: reload the page.");
      })
      .then(function () {
        busy = false;
        if (again) {
          again = false;
          refresh();
        }
      });
  }

  var stream = new EventSource(streamURL);
  stream.addEventListener(eventName, function () {
    notices.forEach(function (n) {
      n.hidden = false;
    });
    if (regions.length && timer === null) {
      timer = window.setTimeout(refresh, 400); // a burst of events is one fetch
    }
  });
  stream.addEventListener("open", function () {
    say(words.open);
  });
  stream.addEventListener("error", function () {
    if (stream.readyState === EventSource.CLOSED) {
      say(words.stopped);
    }
  });
})();
