// The self-service kiosk at a registration point: the citizen registers at Plus, or upgrades,
// with no officer. Its card reader reads the identity card, its camera runs the identity check
// (document and face match) through civpass's identity evidence verifier, which must vouch for
// it at the strong level; the kiosk signs the act with its own P-256 key, enrolled to its one
// point (`civpass points add-kiosk`), and the citizen confirms on the phone.
//
// The key: the operator loads the kiosk's key file once; it is imported into WebCrypto as a
// non-extractable key and kept in this browser profile's IndexedDB, so the page can sign with
// it but no script can read it out. Uses shared.js (languages, DOM, API calls).
"use strict";

const DB = "civpass-kiosk";

function database() {
  return new Promise((resolve, reject) => {
    const open = indexedDB.open(DB, 1);
    open.onupgradeneeded = () => open.result.createObjectStore("key");
    open.onsuccess = () => resolve(open.result);
    open.onerror = () => reject(open.error);
  });
}

async function stored() {
  const db = await database();
  return new Promise((resolve, reject) => {
    const get = db.transaction("key").objectStore("key").get("kiosk");
    get.onsuccess = () => resolve(get.result || null);
    get.onerror = () => reject(get.error);
  });
}

async function store(value) {
  const db = await database();
  return new Promise((resolve, reject) => {
    const tx = db.transaction("key", "readwrite");
    tx.objectStore("key").put(value, "kiosk");
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error);
  });
}

/** The key file written by `civpass points add-kiosk`: `{kiosk_id, point_id, private_key}` (PKCS#8, base64url). */
async function importKeyFile(text) {
  const file = JSON.parse(text);
  if (typeof file.kiosk_id !== "string" || typeof file.point_id !== "string" || typeof file.private_key !== "string") {
    throw new Error("key-file");
  }
  const key = await crypto.subtle.importKey("pkcs8", fromB64url(file.private_key), { name: "ECDSA", namedCurve: "P-256" }, false, ["sign"]);
  return { kiosk_id: file.kiosk_id, point_id: file.point_id, key };
}

/** ECDSA P-256 SHA-256 over `message`, r || s in base64url: what civpass verifies. */
async function sign(key, message) {
  const signature = await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, key, new TextEncoder().encode(message));
  return toB64url(signature);
}

/** The document the act signs (`civpass_api::signing::kiosk_act_message`). */
function actMessage(issuer, kiosk, kind, code, idNumber, at) {
  const id = idNumber.replace(/[\s()]/g, "").toUpperCase();
  return `civpass-kiosk-act/v2\n${issuer}\n${kiosk.kiosk_id}\n${kiosk.point_id}\n${kind}\n${code}\n${id}\n${at}`;
}

// ---- setting up (the operator, once) --------------------------------------------------------

function setupScreen(options) {
  const input = h("input", { type: "file", id: "key-file", accept: "application/json,.json", "aria-describedby": "key-file-hint" });
  const form = h("form", { id: "setup-form", novalidate: true },
    h("div", { class: "field" }, h("label", { for: "key-file" }, t("kiosk.setup.key_file")),
      h("p", { class: "hint", id: "key-file-hint" }, t("kiosk.setup.hint")), input),
    h("button", { type: "submit", class: "primary", id: "setup-submit" }, t("kiosk.setup.button")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const file = input.files[0];
      if (!file) throw new Error("key-file");
      // A key is loaded once: replacing it is the operator's, by clearing the browser profile.
      if (await stored()) throw new Error("key-present");
      await store(await importKeyFile(await file.text()));
      await route({ focus: true });
    } catch {
      showError(form, t("kiosk.setup.invalid"));
    }
  });
  show(t("kiosk.setup.heading"), [h("p", {}, t("kiosk.setup.intro")), form], options);
}

// ---- serving a citizen ----------------------------------------------------------------------

async function serveScreen(kiosk, config, options) {
  const kinds = ["register", "upgrade"].map((kind, i) => h("li", {}, h("div", { class: "check" },
    h("input", { type: "radio", name: "kind", id: `kind-${kind}`, value: kind, checked: i === 0 }),
    h("label", { for: `kind-${kind}` }, t(`kiosk.kind.${kind}`)))));
  const code = field("code", t("kiosk.code"), t("kiosk.code_hint"), { autocomplete: "off", autocapitalize: "characters", spellcheck: "false" });
  // The card reader fills these; on the test platform the tester types what the card says.
  const idNumber = field("id-number", t("console.desk.id_number"), "", { autocomplete: "off", autocapitalize: "characters", spellcheck: "false" });
  const name = field("name-en", t("console.desk.name_en"), "", { autocomplete: "off", autocapitalize: "characters", spellcheck: "false" });
  const dob = field("dob", t("console.desk.dob"), t("console.desk.dob_hint"), { autocomplete: "off", inputmode: "numeric", placeholder: "YYYY-MM-DD" });
  const card = h("fieldset", { id: "card" }, h("legend", {}, t("kiosk.card")),
    h("p", { class: "hint" }, config.evidence_verifier === "sandbox" ? t("kiosk.card_sandbox") : t("kiosk.card_reader")),
    idNumber.node(), name.node(), dob.node());
  // The face match: a vendor's SDK on the kiosk's camera gives a session; the sandbox names
  // the outcome to simulate.
  const outcomes = (config.sandbox_outcomes || []).map((outcome) => h("li", {}, h("div", { class: "check" },
    h("input", { type: "radio", name: "evidence", id: `evidence-${outcome}`, value: outcome, checked: outcome === "pass" }),
    h("label", { for: `evidence-${outcome}` }, t(`register.evidence.${outcome}`)))));
  const face = h("fieldset", { id: "face" }, h("legend", {}, t("kiosk.face")),
    h("p", { class: "hint" }, t("kiosk.face_hint")), h("ul", { class: "scopes" }, outcomes));
  const submit = h("button", { type: "submit", id: "kiosk-submit", class: "primary" }, t("kiosk.submit"));
  const result = h("div", { id: "result", role: "status", "aria-live": "polite" });
  const form = h("form", { id: "kiosk-form", novalidate: true },
    h("fieldset", {}, h("legend", {}, t("kiosk.what")), h("ul", { class: "scopes" }, kinds)),
    code.node(), card, face, submit);
  scannerMovesOn(code, idNumber);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!cardChecked(code, idNumber, name, dob)) return;
    submit.disabled = true;
    try {
      const kind = form.querySelector("input[name=kind]:checked").value;
      const id = idNumber.input.value.trim();
      const check = await api("POST", "/api/v1/device/identity-checks", { id_number: id });
      // With a vendor, its SDK on the kiosk's camera runs here with `check.reference` and gives
      // back its session reference; the test platform names the outcome instead.
      const session = form.querySelector("input[name=evidence]:checked")?.value || "";
      const at = Math.floor(Date.now() / 1000);
      const signature = await sign(kiosk.key, actMessage(config.issuer, kiosk, kind, code.input.value.trim(), id, at));
      const report = await api("POST", "/api/v1/kiosk/acts", {
        kiosk_id: kiosk.kiosk_id, point_id: kiosk.point_id, kind, code: code.input.value.trim(),
        id_number: id, name_en: name.input.value.trim(), date_of_birth: dob.input.value.trim(),
        evidence: { session, reference: check.reference }, at, signature,
      });
      const done = report.outcome === "awaiting_citizen";
      result.replaceChildren(h("div", { class: done ? "notice" : "alert", id: "outcome", "data-outcome": report.outcome, tabindex: "-1" },
        h("h2", {}, done ? t("kiosk.done") : t(`console.outcome.${report.outcome}`)),
        done ? h("p", {}, t("console.outcome.confirm_by", { time: formatDate(report.expires_at, true) })) : null));
    } catch (error) {
      result.replaceChildren(h("div", { class: "alert", id: "outcome", tabindex: "-1" }, explain(error)));
    } finally {
      // Whatever the outcome, nothing of this citizen stays in the fields for the next one.
      for (const f of [code, idNumber, name, dob]) f.input.value = "";
      submit.disabled = false;
      result.firstChild?.focus();
    }
  });
  show(t("kiosk.heading"), [
    h("p", {}, t("kiosk.intro")),
    form, result,
    h("p", { class: "hint", id: "kiosk-identity" }, t("kiosk.identity", { kiosk: kiosk.kiosk_id, point: kiosk.point_id })),
  ], options);
}

/** Back to an empty screen after two idle minutes: a citizen who walked away leaves nothing. */
let idle = null;
function resetWhenIdle() {
  const restart = () => {
    clearTimeout(idle);
    idle = setTimeout(() => route({ focus: true }), 120_000);
  };
  for (const kind of ["keydown", "pointerdown", "input"]) document.addEventListener(kind, restart, { passive: true });
  restart();
}

async function route(options) {
  let kiosk;
  try {
    kiosk = await stored();
  } catch {
    // Storage failed: say so, rather than offer to load a key over the one that may be there.
    show(t("kiosk.heading"), [alertBox(t("kiosk.storage_failed"))], options);
    return;
  }
  if (!kiosk) return setupScreen(options);
  const config = await api("GET", "/api/v1/device/configuration");
  return serveScreen(kiosk, config, options);
}

async function start() {
  await setLanguage(chooseLanguage());
  onLanguageButtons(() => route({ focus: false }));
  await route({ focus: false });
  resetWhenIdle();
}

start();
