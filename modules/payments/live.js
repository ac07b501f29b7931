// BrokerDesk's money pages, live: when a deposit of the brokerage is credited, the server's stream
// (/backoffice/live/deposits, Server-Sent Events) says so, and this script fetches the page again and swaps in the
// parts marked data-live (each with an id): the day's figures, the chart, the first page of deposits. Rows that
// were not there before are marked for a moment. A part marked data-live-notice (a later page of a list) is only
// shown. Without JavaScript, or when the stream is unavailable, the pages are the same with a reload.
(function () {
  "use strict";
  var regions = document.querySelectorAll("[data-live][id]");
  var notices = document.querySelectorAll("[data-live-notice]");
  if ((!regions.length && !notices.length) || !window.EventSource || !window.fetch || !window.DOMParser) {
    return;
  }
  var status = document.getElementById("live-status");
  var say = function (text) {
    if (status) {
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

  var stream = new EventSource("/backoffice/live/deposits");
  stream.addEventListener("deposit", function () {
    notices.forEach(function (n) {
      n.hidden = false;
    });
    if (regions.length && timer === null) {
      timer = window.setTimeout(refresh, 400); // a burst of credits is one fetch
    }
  });
  stream.addEventListener("open", function () {
    say("Live: new deposits appear as they are credited.");
  });
  stream.addEventListener("error", function () {
    if (stream.readyState === EventSource.CLOSED) {
      say("Live updates stopped: reload the page to see new deposits.");
    }
  });
})();
