// BrokerDesk's partner area, live: when commission rows of this partner are recorded, the server's stream
// (/portal/partner/live, Server-Sent Events, narrowed to the signed-in partner) says so, and this script fetches
// the page again (same filters) and swaps in the parts marked data-live (each with an id): the totals, the chart,
// the clients, the sub-IBs and the rows. Rows that were not there before are marked for a moment. Without
// JavaScript, or when the stream is unavailable, the page is the same with a reload.
(function () {
  "use strict";
  var regions = document.querySelectorAll("[data-live][id]");
  if (!regions.length || !window.EventSource || !window.fetch || !window.DOMParser) {
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

  var stream = new EventSource("/portal/partner/live");
  stream.addEventListener("commission", function () {
    if (timer === null) {
      timer = window.setTimeout(refresh, 400); // a burst of deals is one fetch
    }
  });
  stream.addEventListener("open", function () {
    say("Live: new commissions appear as deals sync.");
  });
  stream.addEventListener("error", function () {
    if (stream.readyState === EventSource.CLOSED) {
      say("Live updates stopped: reload the page to see new commissions.");
    }
  });
})();
