// Polls the login request's status and reloads once the app has acted, so that the server can
// send this browser on to the service (or show why not).
(function () {
  var box = document.getElementById("login");
  if (!box) return;
  var url = box.getAttribute("data-status-url");
  function poll() {
    fetch(url, { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.ok ? r.json() : { status: "ended" }; })
      .then(function (s) {
        if (s.status === "pending") { setTimeout(poll, 1000); } else { window.location.reload(); }
      })
      .catch(function () { setTimeout(poll, 3000); });
  }
  setTimeout(poll, 1000);
})();
