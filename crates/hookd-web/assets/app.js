// hookd: refreshes the delivery log while its page is open and on its first page.
// Everything works without this script; it only saves pressing "Refresh".
(function () {
  "use strict";
  var rows = document.getElementById("delivery-rows");
  if (!rows || !rows.dataset.refresh) return;
  var url = rows.dataset.refresh;
  var busy = false;
  function refresh() {
    if (busy || document.hidden) return;
    busy = true;
    fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (res) {
        if (!res.ok) throw new Error(res.status);
        return res.text();
      })
      .then(function (html) {
        if (html.trim() !== rows.innerHTML.trim()) rows.innerHTML = html;
      })
      .catch(function () { /* the next round tries again */ })
      .then(function () { busy = false; });
  }
  setInterval(refresh, 3000);
})();
