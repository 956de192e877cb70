// The counter console: staff sign in with a passkey (administrators also with an authenticator
// code); officers register and upgrade citizens at their points; administrators manage staff
// and points. Keyboard first: every screen is a form that Enter submits, the registration
// code field takes a handheld scanner's typing, and focus goes where the next keystroke
// belongs. Uses shared.js (languages, DOM, API calls, WebAuthn).
"use strict";

/** The console's own API; the session is an HttpOnly cookie, so no token is handled here. */
const capi = (method, path, body) => api(method, `/counter/api/${path}`, body);

function consoleExplain(error) {
  if (error instanceof Problem) {
    const key = `console.problem.${error.slug}`;
    if (texts[key] || fallback[key]) return t(key);
  }
  return explain(error);
}

function backToConsole() {
  return h("p", {}, h("a", { href: "/counter/" }, t("console.back")));
}

// ---- enrolment ------------------------------------------------------------------------------

async function enrolScreen(options) {
  const token = location.hash.slice(1);
  history.replaceState(null, "", "/counter/enrol");
  if (!token) {
    show(t("console.enrol.heading"), [alertBox(t("console.problem.enrolment-link-invalid")), backToConsole()], options);
    return;
  }
  let start;
  try {
    start = await capi("POST", "enrolment", { token });
  } catch (error) {
    show(t("console.enrol.heading"), [alertBox(consoleExplain(error)), backToConsole()], options);
    return;
  }
  const make = button(t("console.enrol.button"), { id: "make-passkey", class: "primary" });
  const panel = h("div", {},
    h("p", {}, t("console.enrol.intro", { name: isolate(start.staff.name), id: start.staff.id })),
    h("p", { class: "hint" }, t("console.enrol.hint")),
    make);
  make.addEventListener("click", async () => {
    make.disabled = true;
    try {
      const credential = await createPasskey(start.passkey);
      const done = await capi("POST", "enrolment/finish", { staff_id: start.staff.id, ceremony_id: start.ceremony_id, credential });
      enrolled(done, options);
    } catch (error) {
      make.disabled = false;
      showError(panel, consoleExplain(error));
    }
  });
  show(t("console.enrol.heading"), [panel], options);
}

function enrolled(done, options) {
  const nodes = [h("p", { role: "status", id: "enrolled" }, t("console.enrol.done", { id: done.staff.id }))];
  if (done.totp) {
    nodes.push(
      h("h2", {}, t("console.totp.heading")),
      h("p", {}, t("console.totp.intro")),
      done.totp.qr ? h("p", { class: "qr" }, h("img", { src: done.totp.qr, alt: t("console.totp.qr_alt"), width: "240", height: "240" })) : null,
      h("p", {}, t("console.totp.secret")),
      h("p", { class: "link", id: "totp-secret" }, done.totp.secret),
      h("p", { class: "hint" }, t("console.totp.once")));
  }
  nodes.push(h("p", {}, h("a", { class: "button", href: "/counter/", id: "to-sign-in" }, t("console.enrol.sign_in"))));
  show(t("console.enrol.heading"), nodes, { focus: true, ...options });
}

// ---- sign-in --------------------------------------------------------------------------------

function signInScreen(options) {
  const staffId = field("staff-id", t("console.sign_in.staff_id"), t("console.sign_in.staff_id_hint"), { autocomplete: "username", autocapitalize: "none", spellcheck: "false", required: true });
  const totp = field("totp", t("console.sign_in.totp"), t("console.sign_in.totp_hint"), { inputmode: "numeric", autocomplete: "one-time-code", pattern: "[0-9]{6}", maxlength: "6" });
  // Shown to everyone: whether a staff id is an administrator's is not told before sign-in.
  const totpNode = totp.node();
  const submit = h("button", { type: "submit", id: "sign-in", class: "primary" }, t("console.sign_in.button"));
  const form = h("form", { id: "sign-in-form", novalidate: true }, staffId.node(), totpNode, submit);
  staffId.input.value = localStorage.getItem("civpass.counter.staff") || "";
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const id = staffId.input.value.trim();
    setFieldError(staffId, id ? "" : t("console.sign_in.staff_id_missing"));
    if (!id) return staffId.input.focus();
    const code = totp.input.value.trim();
    setFieldError(totp, !code || /^[0-9]{6}$/.test(code) ? "" : t("console.sign_in.totp_missing"));
    if (code && !/^[0-9]{6}$/.test(code)) return totp.input.focus();
    submit.disabled = true;
    try {
      const start = await capi("POST", "sign-in", { staff_id: id });
      const credential = await usePasskey(start.passkey);
      await capi("POST", "sign-in/finish", { staff_id: id, ceremony_id: start.ceremony_id, credential, totp: code || undefined });
      localStorage.setItem("civpass.counter.staff", id);
      await route({ focus: true });
    } catch (error) {
      submit.disabled = false;
      showError(form, consoleExplain(error));
    }
  });
  show(t("console.sign_in.heading"), [h("p", {}, t("console.sign_in.intro")), form], options);
  staffId.input.focus();
}

// ---- the officer's desk ---------------------------------------------------------------------

function pointName(point) {
  return lang === "zh-HK" ? point.name_zh_hant : lang === "zh-CN" ? point.name_zh_hans : point.name_en;
}

function staffBar(session) {
  const signOut = button(t("console.sign_out"), { id: "sign-out", class: "secondary" });
  signOut.addEventListener("click", async () => {
    await capi("POST", "sign-out").catch(() => {});
    route({ focus: true });
  });
  return h("p", { class: "notice", id: "who" },
    t("console.signed_in", { name: isolate(session.staff.name), role: t(`console.role.${session.staff.role}`) }), " ", signOut);
}

/**
 * Reads a QR code from a video frame: the Barcode Detection API where the browser has it, else
 * jsQR on a canvas (Chromium on Linux and Windows has no BarcodeDetector). `null` if neither.
 */
function qrReader() {
  if ("BarcodeDetector" in window) {
    const detector = new BarcodeDetector({ formats: ["qr_code"] });
    return async (video) => (await detector.detect(video).catch(() => []))[0]?.rawValue || null;
  }
  if (typeof jsQR !== "function") return null;
  const canvas = document.createElement("canvas");
  const context = canvas.getContext("2d", { willReadFrequently: true });
  return async (video) => {
    if (!video.videoWidth) return null;
    canvas.width = video.videoWidth;
    canvas.height = video.videoHeight;
    context.drawImage(video, 0, 0);
    const frame = context.getImageData(0, 0, canvas.width, canvas.height);
    return jsQR(frame.data, frame.width, frame.height, { inversionAttempts: "dontInvert" })?.data || null;
  };
}

/** "Scan with the camera": the laptop's camera reads the code into `input`; Escape or Stop ends it. */
function cameraButton(input) {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) return null;
  const read = qrReader();
  if (!read) return null;
  const scan = button(t("console.desk.camera"), { id: "camera", class: "secondary" });
  scan.addEventListener("click", async () => {
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } });
    } catch {
      input.focus();
      return;
    }
    const video = h("video", { id: "camera-view", autoplay: true, playsinline: true, muted: true, "aria-label": t("console.desk.camera_view") });
    const stopButton = button(t("console.desk.camera_stop"), { id: "camera-stop", class: "secondary" });
    const panel = h("div", { id: "camera-panel" }, video, stopButton);
    video.srcObject = stream;
    scan.after(panel);
    const stop = () => { stream.getTracks().forEach((track) => track.stop()); panel.remove(); input.focus(); };
    stopButton.addEventListener("click", stop);
    panel.addEventListener("keydown", (event) => { if (event.key === "Escape") stop(); });
    stopButton.focus();
    const tick = async () => {
      if (!panel.isConnected) return;
      const found = await read(video);
      if (found) {
        input.value = found;
        stop();
        // As a scanner's Enter would: on to the card.
        input.dispatchEvent(new KeyboardEvent("keydown", { key: "Enter", bubbles: true }));
      } else {
        setTimeout(tick, 150);
      }
    };
    video.addEventListener("loadeddata", tick, { once: true });
  });
  return scan;
}

function deskScreen(session, options) {
  const nodes = [staffBar(session)];
  if (!session.points.length) {
    nodes.push(h("p", { id: "no-points" }, t("console.desk.no_points")));
    show(t("console.desk.heading"), nodes, options);
    return;
  }
  const pointSelect = h("select", { id: "point", name: "point" }, session.points.map((p) =>
    h("option", { value: p.id }, `${pointName(p)} · ${p.open_now ? t("console.desk.open") : t("console.desk.closed")}`)));
  const kinds = ["register", "upgrade", "replace_device"].map((kind, i) => {
    const id = `kind-${kind}`;
    return h("li", {}, h("div", { class: "check" },
      h("input", { type: "radio", name: "kind", id, value: kind, checked: i === 0 }),
      h("label", { for: id }, t(`console.desk.kind.${kind}`))));
  });
  const code = field("code", t("console.desk.code"), t("console.desk.code_hint"), { autocomplete: "off", autocapitalize: "characters", spellcheck: "false", required: true });
  const idNumber = field("id-number", t("console.desk.id_number"), t("console.desk.id_number_hint"), { autocomplete: "off", autocapitalize: "characters", spellcheck: "false", required: true });
  const name = field("name-en", t("console.desk.name_en"), t("console.desk.name_en_hint"), { autocomplete: "off", autocapitalize: "characters", spellcheck: "false", required: true });
  const dob = field("dob", t("console.desk.dob"), t("console.desk.dob_hint"), { autocomplete: "off", inputmode: "numeric", placeholder: "YYYY-MM-DD", required: true });
  const submit = h("button", { type: "submit", id: "act", class: "primary" }, t("console.desk.submit"));
  const result = h("div", { id: "result", role: "status", "aria-live": "polite" });
  const form = h("form", { id: "act-form", novalidate: true },
    h("div", { class: "field" }, h("label", { for: "point" }, t("console.desk.point")), pointSelect),
    h("fieldset", {}, h("legend", {}, t("console.desk.kind")), h("ul", { class: "scopes" }, kinds)),
    code.node(), cameraButton(code.input), idNumber.node(), name.node(), dob.node(), submit);
  scannerMovesOn(code, idNumber);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!cardChecked(code, idNumber, name, dob)) return;
    submit.disabled = true;
    try {
      const report = await capi("POST", "acts", {
        kind: form.querySelector("input[name=kind]:checked").value,
        point_id: pointSelect.value,
        code: code.input.value.trim(),
        id_number: idNumber.input.value.trim(),
        name_en: name.input.value.trim(),
        date_of_birth: dob.input.value.trim(),
      });
      const done = report.outcome === "awaiting_citizen";
      result.replaceChildren(h("div", { class: done ? "notice" : "alert", id: "outcome", "data-outcome": report.outcome, tabindex: "-1" },
        h("h2", {}, t(`console.outcome.${report.outcome}`)),
        done ? h("p", {}, t("console.outcome.confirm_by", { time: formatDate(report.expires_at, true) })) : null));
      if (done) {
        for (const f of [code, idNumber, name, dob]) f.input.value = "";
      }
      result.firstChild.focus();
    } catch (error) {
      result.replaceChildren(h("div", { class: "alert", id: "outcome", tabindex: "-1" }, consoleExplain(error)));
      result.firstChild.focus();
    } finally {
      submit.disabled = false;
    }
  });
  nodes.push(h("p", {}, t("console.desk.intro")), form, result,
    h("p", { class: "hint" }, t("console.desk.keys")));
  show(t("console.desk.heading"), nodes, options);
  code.input.focus();
}

// ---- administration -------------------------------------------------------------------------

async function adminScreen(session, options) {
  const [staff, points] = await Promise.all([capi("GET", "staff"), capi("GET", "points")]);
  const status = h("div", { id: "admin-status", role: "status", "aria-live": "polite" }, options.notice || null);
  const say = (node) => { status.replaceChildren(node); };
  const pointOptions = () => points.map((p) => h("option", { value: p.id }, `${pointName(p)} (${p.id})`));

  const rows = staff.filter((s) => s.role !== "kiosk").map((s) => {
    const assign = h("select", { "aria-label": t("console.admin.assign_to", { name: s.name }) }, pointOptions());
    const assignButton = button(t("console.admin.assign"), { class: "secondary" });
    assignButton.addEventListener("click", async () => {
      try {
        await capi("POST", `staff/${encodeURIComponent(s.id)}/assign`, { point_id: assign.value });
        route({ focus: false });
      } catch (error) { say(alertBox(consoleExplain(error))); }
    });
    const linkButton = button(t("console.admin.new_link"), { class: "secondary" });
    linkButton.addEventListener("click", async () => {
      try {
        const link = await capi("POST", `staff/${encodeURIComponent(s.id)}/enrolment-link`);
        say(linkNotice(s.name, link.enrolment_link));
      } catch (error) { say(alertBox(consoleExplain(error))); }
    });
    const disableButton = button(t("console.admin.disable"), { class: "danger" });
    disableButton.addEventListener("click", async () => {
      if (!confirm(t("console.admin.disable_confirm", { name: s.name }))) return;
      try {
        await capi("POST", `staff/${encodeURIComponent(s.id)}/disable`);
        route({ focus: false });
      } catch (error) { say(alertBox(consoleExplain(error))); }
    });
    const active = !s.disabled_at;
    return h("tr", {},
      h("th", { scope: "row" }, s.name, h("br"), h("span", { class: "detail" }, s.id)),
      h("td", {}, t(`console.role.${s.role}`)),
      h("td", {}, active ? t("console.admin.active") : t("console.admin.disabled")),
      h("td", {}, (s.points || []).join(", ") || "—"),
      h("td", {}, active ? [assign, assignButton, linkButton, s.id === session.staff.id ? null : disableButton] : null));
  });
  const staffTable = h("table", { id: "staff" },
    h("caption", {}, t("console.admin.staff")),
    h("thead", {}, h("tr", {}, ["name", "role", "state", "points", "actions"].map((c) => h("th", { scope: "col" }, t(`console.admin.col.${c}`))))),
    h("tbody", {}, rows));

  const newName = field("new-staff-name", t("console.admin.name"), t("console.admin.name_hint"), { autocomplete: "off", required: true });
  const roleSelect = h("select", { id: "new-staff-role" }, ["officer", "supervisor", "admin"].map((r) => h("option", { value: r }, t(`console.role.${r}`))));
  const addForm = h("form", { id: "add-staff", novalidate: true },
    h("h2", {}, t("console.admin.add_staff")), newName.node(),
    h("div", { class: "field" }, h("label", { for: "new-staff-role" }, t("console.admin.role")), roleSelect),
    h("button", { type: "submit", class: "primary", id: "add-staff-button" }, t("console.admin.add")));
  addForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const added = await capi("POST", "staff", { name: newName.input.value, role: roleSelect.value });
      // Drawn again with the new member of staff in the table, the link shown above it.
      await route({ focus: false, notice: linkNotice(added.staff.name, added.enrolment_link) });
      document.getElementById("enrolment-link-notice")?.focus();
    } catch (error) { showError(addForm, consoleExplain(error)); }
  });

  const pointList = h("ul", { id: "points" }, points.map((p) => {
    const hours = h("input", { id: `hours-${p.id}`, value: p.hours, "aria-label": t("console.admin.hours_of", { name: pointName(p) }) });
    const change = button(t("console.admin.change_hours"), { class: "secondary" });
    change.addEventListener("click", async () => {
      try {
        await capi("POST", `points/${encodeURIComponent(p.id)}/hours`, { hours: hours.value });
        route({ focus: false });
      } catch (error) { say(alertBox(consoleExplain(error))); }
    });
    return h("li", {},
      h("strong", {}, pointName(p)), ` (${p.id}) · ${t(`console.kind.${p.kind}`)} · ${p.district}`,
      h("div", { class: "field" }, hours, change));
  }));
  const pointFields = {
    en: field("point-name-en", t("console.admin.point_name_en"), "", { required: true }),
    hant: field("point-name-hant", t("console.admin.point_name_hant"), "", { required: true, lang: "zh-HK" }),
    hans: field("point-name-hans", t("console.admin.point_name_hans"), "", { required: true, lang: "zh-CN" }),
    district: field("point-district", t("console.admin.district"), "", { required: true }),
    hours: field("point-hours", t("console.admin.hours"), t("console.admin.hours_hint"), { required: true }),
  };
  const kindSelect = h("select", { id: "point-kind" }, ["counter", "post_office", "kiosk", "mobile_team"].map((k) => h("option", { value: k }, t(`console.kind.${k}`))));
  const pointForm = h("form", { id: "add-point", novalidate: true },
    h("h2", {}, t("console.admin.add_point")),
    h("div", { class: "field" }, h("label", { for: "point-kind" }, t("console.admin.kind")), kindSelect),
    Object.values(pointFields).map((f) => f.node()),
    h("button", { type: "submit", class: "primary" }, t("console.admin.add")));
  pointForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await capi("POST", "points", {
        kind: kindSelect.value, name_en: pointFields.en.input.value, name_zh_hant: pointFields.hant.input.value,
        name_zh_hans: pointFields.hans.input.value, district: pointFields.district.input.value, hours: pointFields.hours.input.value,
      });
      route({ focus: false });
    } catch (error) { showError(pointForm, consoleExplain(error)); }
  });

  show(t("console.admin.heading"), [staffBar(session), status, h("div", { class: "wide" }, staffTable), addForm,
    h("h2", {}, t("console.admin.points")), pointList, pointForm], options);
}

function linkNotice(name, link) {
  return h("div", { class: "notice", id: "enrolment-link-notice", tabindex: "-1" },
    h("p", {}, t("console.admin.link_intro", { name: isolate(name) })),
    h("p", { class: "link", id: "enrolment-link" }, link),
    h("p", { class: "hint" }, t("console.admin.link_hint")));
}

// ---- routing --------------------------------------------------------------------------------

async function route(options) {
  if (location.pathname === "/counter/enrol") return enrolScreen(options);
  let session;
  try {
    session = await capi("GET", "session");
  } catch (error) {
    if (error instanceof Problem && error.status === 401) return signInScreen(options);
    show(t("console.heading"), [alertBox(consoleExplain(error))], options);
    return;
  }
  if (session.staff.role === "admin") {
    if (location.pathname !== "/counter/admin") history.replaceState(null, "", "/counter/admin");
    return adminScreen(session, options);
  }
  return deskScreen(session, options);
}

async function start() {
  await setLanguage(chooseLanguage());
  // The enrolment page is not drawn again: its token has left the address bar.
  onLanguageButtons(async () => { if (location.pathname !== "/counter/enrol") await route({ focus: false }); });
  await route({ focus: false });
}

start();
