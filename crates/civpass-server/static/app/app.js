// The civpass app: registration with a passkey, login approval, my services and my data.
// Plain JavaScript with no build step, so the server can compile it in as it is. Everything
// shown comes from the device API; pages are built with DOM calls (never innerHTML), so a
// service's name cannot inject markup.
"use strict";

const LANGS = ["en", "zh-HK", "zh-CN"];
const DEVICE_KEY = "civpass.device";
const SESSION_KEY = "civpass.session";
let lang = "en";
let texts = {};
let fallback = {};

// ---- language -------------------------------------------------------------------------------

/** The nearest language we have for a BCP 47 tag, as the server maps them. */
function nearest(tag) {
  const parts = String(tag || "").toLowerCase().replace(/_/g, "-").split("-");
  if (parts[0] === "en") return "en";
  if (parts[0] === "yue") return "zh-HK";
  if (parts[0] === "zh") {
    return parts.slice(1).some((p) => ["hans", "cn", "sg", "my"].includes(p)) ? "zh-CN" : "zh-HK";
  }
  return null;
}

function cookie(name) {
  const found = document.cookie.split("; ").find((c) => c.startsWith(name + "="));
  return found ? decodeURIComponent(found.slice(name.length + 1)) : null;
}

/** The citizen's own choice first (shared with the server's pages), then the browser's list. */
function chooseLanguage() {
  const chosen = nearest(cookie("civpass_lang"));
  if (chosen) return chosen;
  for (const tag of navigator.languages || [navigator.language]) {
    const found = nearest(tag);
    if (found) return found;
  }
  return "en";
}

async function loadCatalog(tag) {
  const response = await fetch(`/app/i18n/${tag}.json`);
  if (!response.ok) throw new Error("catalog");
  return response.json();
}

async function setLanguage(tag) {
  lang = LANGS.includes(tag) ? tag : "en";
  texts = await loadCatalog(lang).catch(() => ({}));
  if (lang !== "en" && !Object.keys(fallback).length) fallback = await loadCatalog("en").catch(() => ({}));
  if (lang === "en") fallback = texts;
  document.documentElement.lang = lang;
  document.getElementById("skip").textContent = t("skip");
  document.getElementById("languages").setAttribute("aria-label", t("lang.label"));
  for (const button of document.querySelectorAll("button[data-lang]")) {
    button.setAttribute("aria-pressed", String(button.dataset.lang === lang));
  }
  showOffline();
}

/** The text for `key` with `{name}` placeholders filled in. */
function t(key, values = {}) {
  let text = texts[key] ?? fallback[key] ?? key;
  for (const [name, value] of Object.entries(values)) text = text.split(`{${name}}`).join(value);
  return text;
}

function formatDate(seconds, withTime) {
  const options = withTime ? { dateStyle: "medium", timeStyle: "short" } : { dateStyle: "long" };
  return new Intl.DateTimeFormat(lang, { ...options, timeZone: "Asia/Hong_Kong" }).format(new Date(seconds * 1000));
}

/** A name from outside, isolated so that it cannot reorder the sentence around it (UAX #9, 2.4). */
function isolate(text) {
  return `\u2068${text}\u2069`;
}

function joinList(items) {
  return items.join(lang === "en" ? ", " : "、");
}

// ---- DOM ------------------------------------------------------------------------------------

/** Creates an element: h("p", {class: "hint"}, "text", child, ...). */
function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === false || value === null || value === undefined) continue;
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else element.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat(Infinity)) {
    if (child !== null && child !== undefined && child !== false) element.append(child);
  }
  return element;
}

const main = () => document.getElementById("main");

/** Replaces the page's content; moves focus to the new heading when the page changed by itself. */
function show(title, nodes, { focus = true } = {}) {
  document.title = `${title} · civpass`;
  const heading = h("h1", { tabindex: "-1", id: "heading" }, title);
  main().replaceChildren(heading, ...nodes);
  main().dataset.shown = lang;
  if (focus) heading.focus();
}

function alertBox(message) {
  return h("div", { class: "alert", role: "alert", id: "alert", tabindex: "-1" }, message);
}

function showError(container, message) {
  container.querySelector("#alert")?.remove();
  const box = alertBox(message);
  container.prepend(box);
  box.focus();
}

function button(label, attributes = {}) {
  return h("button", { type: "button", ...attributes }, label);
}

function homeLink() {
  return h("p", {}, h("a", { href: "/app/" }, t("back")));
}

// ---- device API -----------------------------------------------------------------------------

class Problem extends Error {
  constructor(slug, status) {
    super(slug);
    this.slug = slug;
    this.status = status;
  }
}

async function api(method, path, body, token) {
  const headers = { accept: "application/json" };
  if (body !== undefined) headers["content-type"] = "application/json";
  if (token) headers.authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: "same-origin", cache: "no-store" });
  } catch {
    throw new Problem("network", 0);
  }
  if (response.status === 204) return null;
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    const slug = data && typeof data.type === "string" ? data.type.split("/").pop() : "generic";
    throw new Problem(response.status === 429 ? "too-many-requests" : slug, response.status);
  }
  return data;
}

/** Problems after which the login request can no longer be decided. */
const FINAL_PROBLEMS = [
  "wrong-match-code", "login-request-decided", "login-request-expired", "login-request-not-found",
  "account-level-too-low", "other-citizen",
];

/** A citizen-facing sentence for any failure. */
function explain(error) {
  if (error instanceof Problem) {
    const key = `problem.${error.slug}`;
    return texts[key] || fallback[key] ? t(key) : t("problem.generic");
  }
  if (error && (error.name === "NotAllowedError" || error.name === "AbortError")) return t("passkey.cancelled");
  if (error && error.name === "NotSupportedError") return t("passkey.unsupported");
  return t("problem.generic");
}

function device() {
  try {
    return JSON.parse(localStorage.getItem(DEVICE_KEY));
  } catch {
    return null;
  }
}

// ---- WebAuthn -------------------------------------------------------------------------------

function fromB64url(text) {
  const base64 = text.replace(/-/g, "+").replace(/_/g, "/");
  const binary = atob(base64 + "===".slice((base64.length + 3) % 4));
  return Uint8Array.from(binary, (c) => c.charCodeAt(0)).buffer;
}

function toB64url(buffer) {
  let binary = "";
  for (const byte of new Uint8Array(buffer)) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** Drops nulls: WebAuthn's dictionaries take a missing member, not null. */
function withoutNulls(value) {
  if (Array.isArray(value)) return value.map(withoutNulls);
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== null).map(([k, v]) => [k, withoutNulls(v)]));
  }
  return value;
}

/** A credential as `PublicKeyCredential.toJSON()` writes it (not every browser has toJSON). */
function asJson(credential, response) {
  return { id: credential.id, rawId: toB64url(credential.rawId), type: credential.type, response, extensions: credential.getClientExtensionResults() };
}

function requirePasskeys() {
  if (!window.PublicKeyCredential || !navigator.credentials) throw Object.assign(new Error("unsupported"), { name: "NotSupportedError" });
}

async function createPasskey(options) {
  requirePasskeys();
  const publicKey = withoutNulls(options.publicKey);
  publicKey.challenge = fromB64url(publicKey.challenge);
  publicKey.user.id = fromB64url(publicKey.user.id);
  for (const c of publicKey.excludeCredentials || []) c.id = fromB64url(c.id);
  const credential = await navigator.credentials.create({ publicKey });
  const response = credential.response;
  return asJson(credential, {
    attestationObject: toB64url(response.attestationObject),
    clientDataJSON: toB64url(response.clientDataJSON),
    transports: typeof response.getTransports === "function" ? response.getTransports() : undefined,
  });
}

async function usePasskey(options) {
  requirePasskeys();
  const publicKey = withoutNulls(options.publicKey);
  publicKey.challenge = fromB64url(publicKey.challenge);
  for (const c of publicKey.allowCredentials || []) c.id = fromB64url(c.id);
  const credential = await navigator.credentials.get({ publicKey });
  const response = credential.response;
  return asJson(credential, {
    authenticatorData: toB64url(response.authenticatorData),
    clientDataJSON: toB64url(response.clientDataJSON),
    signature: toB64url(response.signature),
    userHandle: response.userHandle ? toB64url(response.userHandle) : undefined,
  });
}

// ---- HKID check digit (as civpass-core's hkid.rs) -------------------------------------------

/** "" when valid, else the catalog key of the problem. */
function hkidProblem(input) {
  const text = input.toUpperCase().replace(/[\s()]/g, "");
  if (!text) return "hkid.empty";
  const match = /^([A-Z]{1,2})([0-9]{6})([0-9A])$/.exec(text);
  if (!match) return "hkid.format";
  const [, letters, digits, check] = match;
  const value = (c) => c.charCodeAt(0) - 55; // A = 10
  let sum = letters.length === 2 ? value(letters[0]) * 9 + value(letters[1]) * 8 : 36 * 9 + value(letters[0]) * 8;
  for (let i = 0; i < 6; i++) sum += Number(digits[i]) * (7 - i);
  const remainder = (11 - (sum % 11)) % 11;
  const expected = remainder === 10 ? "A" : String(remainder);
  return check === expected ? "" : "hkid.check";
}

// ---- screens --------------------------------------------------------------------------------

function homeScreen(options) {
  const registered = device();
  if (!registered) {
    show(t("home.heading"), [
      h("p", {}, t("home.welcome")),
      h("p", {}, h("a", { class: "button", href: "/app/register", id: "register-link" }, t("home.register"))),
    ], options);
    return;
  }
  show(t("home.heading"), [
    h("p", {}, t("home.registered")),
    h("p", {}, t("home.tier", { tier: t(`tier.${registered.tier || "basic"}`) })),
    h("p", {}, t("home.how")),
    h("nav", { "aria-label": t("nav.label") },
      h("ul", { class: "menu" },
        h("li", {}, h("a", { href: "/app/services", id: "services-link" }, t("nav.services"))),
        h("li", {}, h("a", { href: "/app/data", id: "data-link" }, t("nav.data"))))),
  ], options);
}

/** A text field with its label, hint and error slot, tied together for screen readers. */
function field(id, label, hint, attributes = {}) {
  const input = h("input", { id, name: id, "aria-describedby": `${id}-hint ${id}-error`, ...attributes });
  return {
    input,
    error: h("p", { class: "field-error", id: `${id}-error` }),
    node() {
      return h("div", { class: "field" }, h("label", { for: id }, label), h("p", { class: "hint", id: `${id}-hint` }, hint), this.error, input);
    },
  };
}

function setFieldError(f, message) {
  f.error.textContent = message || "";
  if (message) f.input.setAttribute("aria-invalid", "true");
  else f.input.removeAttribute("aria-invalid");
}

/** How this platform registers citizens (`GET /api/v1/device/configuration`). */
async function configuration() {
  try {
    return await api("GET", "/api/v1/device/configuration");
  } catch {
    return { passkeys_available: true, evidence_verifier: "vendor", sandbox_outcomes: [] };
  }
}

/**
 * The identity check's step. On the test platform the tester picks the check's outcome; a
 * deployment with a vendor adds the vendor's SDK here, which hands back a session reference.
 */
function evidenceStep(config) {
  if (config.evidence_verifier !== "sandbox") return null;
  const choices = config.sandbox_outcomes.map((outcome) => {
    const id = `evidence-${outcome}`;
    const radio = h("input", { type: "radio", name: "evidence", id, value: outcome, checked: outcome === "pass" });
    return h("li", {}, h("div", { class: "check" }, radio, h("label", { for: id }, t(`register.evidence.${outcome}`))));
  });
  const node = h("fieldset", { id: "evidence" },
    h("legend", {}, t("register.evidence_legend")),
    h("p", { class: "hint" }, t("register.evidence_hint")),
    h("ul", { class: "scopes" }, choices));
  return { node, session: () => node.querySelector("input[name=evidence]:checked")?.value || "" };
}

async function registerScreen(options) {
  const config = await configuration();
  const evidence = evidenceStep(config);
  if (!evidence) {
    show(t("register.heading"), [h("p", { id: "register-unavailable" }, t("register.vendor_missing")), homeLink()], options);
    return;
  }
  const hkid = field("hkid", t("register.hkid"), t("register.hkid_hint"), { autocomplete: "off", autocapitalize: "characters", spellcheck: "false" });
  const name = field("name", t("register.name"), t("register.name_hint"), { autocomplete: "name", autocapitalize: "characters", spellcheck: "false" });
  const dob = field("dob", t("register.dob"), "", { type: "date", autocomplete: "bday" });
  const status = h("p", { role: "status", id: "register-status" });
  const submit = h("button", { type: "submit", id: "register-submit" }, t("register.submit"));

  const checkHkid = (final) => {
    const problem = hkidProblem(hkid.input.value);
    // While typing, only a complete number is judged; on leaving the field, any problem shows.
    if (!final && (problem === "hkid.empty" || (problem === "hkid.format" && hkid.input.value.replace(/[\s()]/g, "").length < 8))) {
      setFieldError(hkid, "");
      return problem;
    }
    setFieldError(hkid, problem ? t(problem) : "");
    return problem;
  };
  hkid.input.addEventListener("input", () => checkHkid(false));
  hkid.input.addEventListener("blur", () => checkHkid(true));

  const form = h("form", { novalidate: true, id: "register-form" },
    hkid.node(), name.node(), dob.node(), evidence.node, submit, status);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const problems = [];
    if (checkHkid(true)) problems.push([hkid, t(hkidProblem(hkid.input.value))]);
    setFieldError(name, name.input.value.trim() ? "" : t("name.empty"));
    if (!name.input.value.trim()) problems.push([name, t("name.empty")]);
    setFieldError(dob, dob.input.value ? "" : t("dob.empty"));
    if (!dob.input.value) problems.push([dob, t("dob.empty")]);
    form.querySelector("#alert")?.remove();
    if (problems.length) {
      const summary = h("div", { class: "alert", role: "alert", id: "alert", tabindex: "-1" },
        h("h2", {}, t("errors.summary")),
        h("ul", {}, problems.map(([f, message]) => h("li", {}, h("a", { href: `#${f.input.id}` }, message)))));
      form.prepend(summary);
      summary.focus();
      return;
    }
    submit.disabled = true;
    try {
      status.textContent = t("register.checking");
      const idNumber = hkid.input.value.trim();
      // civpass opens the identity check; its reference would go to the vendor's SDK, whose
      // session comes back with it (on the test platform, the outcome chosen above).
      const check = await api("POST", "/api/v1/device/identity-checks", { id_number: idNumber });
      const started = await api("POST", "/api/v1/device/passkey-registrations", {
        id_number: idNumber, name_en: name.input.value.trim(), date_of_birth: dob.input.value,
        evidence: { session: evidence.session(), reference: check.reference },
      });
      status.textContent = t("register.passkey_prompt");
      const credential = await createPasskey(started.passkey);
      const done = await api("POST", `/api/v1/device/passkey-registrations/${encodeURIComponent(started.ceremony_id)}`, { credential });
      localStorage.setItem(DEVICE_KEY, JSON.stringify({ device_id: done.device_id, tier: done.tier }));
      show(t("register.done_heading"), [h("p", { id: "registered" }, t("register.done")), homeLink()]);
    } catch (error) {
      status.textContent = "";
      submit.disabled = false;
      showError(form, explain(error));
    }
  });
  show(t("register.heading"), [h("p", {}, t("register.intro")), form], options);
}

/**
 * Where the login began (browser, system, approximate place, time), so that a login relayed by
 * a phishing page from elsewhere stands out (RFC 10027, section 6.1, "User Experience").
 */
function contextBox(view) {
  const c = view.context || {};
  const unknown = t("approve.context_unknown");
  const device = c.browser && c.os ? t("approve.context_device_value", { browser: c.browser, os: c.os }) : c.browser || c.os || unknown;
  const place = (lang === "zh-CN" && c.place_zh_hans) || c.place || unknown;
  const rows = [
    ["approve.context_device", device],
    ["approve.context_place", place],
    ["approve.context_time", formatDate(view.started_at, true)],
  ];
  return h("section", { class: "context", id: "request-context", "aria-labelledby": "request-context-heading" },
    h("h2", { id: "request-context-heading" }, t("approve.context_heading")),
    h("dl", { class: "data" }, rows.map(([key, value]) => [h("dt", {}, t(key)), h("dd", {}, value)])),
    h("p", { class: "warning" }, t("approve.context_warning")));
}

async function loginScreen(options) {
  const requestId = new URLSearchParams(location.search).get("request") || "";
  const registered = device();
  if (!registered) {
    show(t("home.register"), [h("p", {}, t("approve.not_registered")),
      h("p", {}, h("a", { class: "button", href: "/app/register" }, t("home.register")))], options);
    return;
  }
  let view;
  try {
    view = await api("GET", `/api/v1/device/login-requests/${encodeURIComponent(requestId)}`);
  } catch (error) {
    show(t("problem.generic"), [alertBox(explain(error)), homeLink()], options);
    return;
  }
  const service = isolate(view.client_name);
  const boxes = [];
  const items = view.scopes.map((scope) => {
    const text = t(`scope.${scope.scope}`) === `scope.${scope.scope}` ? scope.description : t(`scope.${scope.scope}`);
    if (!scope.optional) return h("li", {}, `${text} `, h("span", { class: "hint" }, t("approve.required")));
    const id = `scope-${scope.scope}`;
    const box = h("input", { type: "checkbox", id, checked: true, value: scope.scope });
    boxes.push(box);
    return h("li", {}, h("div", { class: "check" }, box, h("label", { for: id }, text)));
  });
  const fieldset = h("fieldset", {},
    h("legend", {}, t("approve.shared")),
    boxes.length ? h("p", { class: "hint" }, t("approve.optional_hint")) : null,
    h("ul", { class: "scopes" }, items));
  const match = view.match_code_required
    ? field("match", t("approve.match"), t("approve.match_hint"), { inputmode: "numeric", autocomplete: "off", maxlength: "2", pattern: "[0-9]{2}", size: "3" })
    : null;
  const status = h("p", { role: "status", id: "approve-status" });
  const approve = button(t("approve.approve"), { id: "approve", class: "primary" });
  const deny = button(t("approve.deny"), { id: "deny", class: "secondary" });
  const panel = h("div", {}, h("p", {}, t("approve.intro", { service })), contextBox(view), fieldset,
    match ? match.node() : null, h("div", { class: "actions" }, approve, deny), status);

  const decide = async (decision) => {
    const code = match ? match.input.value.trim() : "";
    if (decision === "approve" && match && !/^[0-9]{2}$/.test(code)) {
      setFieldError(match, t("approve.match_error"));
      match.input.focus();
      return;
    }
    approve.disabled = deny.disabled = true;
    status.textContent = t("approve.working");
    try {
      const challenge = await api("POST", `/api/v1/device/login-requests/${encodeURIComponent(requestId)}/passkey-challenge`, { device_id: registered.device_id });
      const passkey = await usePasskey(challenge.passkey);
      const scopes = decision === "approve"
        ? ["openid", ...view.scopes.filter((s) => s.scope !== "openid" && (!s.optional || boxes.find((b) => b.value === s.scope)?.checked)).map((s) => s.scope)]
        : [];
      await api("POST", `/api/v1/device/login-requests/${encodeURIComponent(requestId)}/decision`, {
        device_id: registered.device_id, decision, match_code: decision === "approve" ? code : "", approved_scopes: scopes,
        ceremony_id: challenge.ceremony_id, passkey,
      });
      if (decision === "approve") show(t("approve.approved_heading"), [h("p", { id: "outcome" }, t("approve.approved", { service })), homeLink()]);
      else show(t("approve.denied_heading"), [h("p", { id: "outcome" }, t("approve.denied", { service })), homeLink()]);
    } catch (error) {
      status.textContent = "";
      if (error instanceof Problem && FINAL_PROBLEMS.includes(error.slug)) {
        // The request is over on the server: offering Approve again would only fail again.
        show(t("approve.ended_heading"), [alertBox(explain(error)), homeLink()]);
        return;
      }
      approve.disabled = deny.disabled = false;
      showError(panel, explain(error));
    }
  };
  approve.addEventListener("click", () => decide("approve"));
  deny.addEventListener("click", () => decide("deny"));
  show(t("approve.heading", { service }), [panel], options);
}

function session() {
  try {
    const saved = JSON.parse(sessionStorage.getItem(SESSION_KEY));
    return saved && saved.expires_at * 1000 > Date.now() + 5000 ? saved : null;
  } catch {
    return null;
  }
}

/** Shows `title` with an unlock button until an app session exists, then calls `render`. */
async function withSession(title, intro, render, options) {
  const registered = device();
  if (!registered) {
    homeScreen(options);
    return;
  }
  const existing = session();
  if (existing) {
    try {
      await render(existing.token, options);
      return;
    } catch (error) {
      if (!(error instanceof Problem && error.status === 401)) {
        show(title, [alertBox(explain(error)), homeLink()], options);
        return;
      }
      sessionStorage.removeItem(SESSION_KEY);
    }
  }
  const unlock = button(t("unlock.button"), { id: "unlock", class: "primary" });
  const panel = h("div", {}, h("p", {}, intro), h("p", { class: "hint" }, t("unlock.hint")), unlock, homeLink());
  unlock.addEventListener("click", async () => {
    unlock.disabled = true;
    try {
      const challenge = await api("POST", "/api/v1/device/sessions/challenge", { device_id: registered.device_id });
      const passkey = await usePasskey(challenge.passkey);
      const opened = await api("POST", "/api/v1/device/sessions", { device_id: registered.device_id, ceremony_id: challenge.ceremony_id, passkey });
      sessionStorage.setItem(SESSION_KEY, JSON.stringify(opened));
      await render(opened.token, { focus: true });
    } catch (error) {
      unlock.disabled = false;
      showError(panel, explain(error));
    }
  });
  show(title, [panel], options);
}

async function renderServices(token, renderOptions, notice) {
  const list = await api("GET", "/api/v1/device/me/services", undefined, token);
  const nodes = [h("p", {}, t("services.intro"))];
  if (notice) nodes.unshift(h("p", { role: "status", class: "notice", id: "notice" }, notice));
  if (!list.length) nodes.push(h("p", { id: "no-services" }, t("services.none")));
  const items = list.map((s) => {
    const releases = s.releases.slice(0, 10).map((r) => h("li", {}, t("services.release", {
      date: formatDate(r.released_at, true),
      channel: t(`channel.${r.channel}`),
      claims: joinList(r.claims.map((c) => t(`claim.${c}`))),
    })));
    const unlink = button(t("services.unlink", { service: isolate(s.client_name) }), { class: "secondary", "data-client": s.client_id });
    const article = h("li", { class: "service" },
      h("h2", {}, s.client_name),
      h("p", {}, t("services.linked_at", { date: formatDate(s.linked_at, false) })),
      h("h3", {}, t("services.agreed")),
      h("ul", {}, s.scopes.map((scope) => h("li", {}, t(`scope.${scope}`)))),
      h("h3", {}, t("services.received")),
      releases.length ? h("ul", {}, releases) : h("p", {}, t("services.no_releases")),
      unlink);
    unlink.addEventListener("click", () => {
      const yes = button(t("services.unlink", { service: isolate(s.client_name) }), { class: "danger" });
      const no = button(t("cancel"), { class: "secondary" });
      const textId = `confirm-text-${s.client_id.replace(/[^A-Za-z0-9_-]/g, "_")}`;
      const confirm = h("div", { class: "confirm", role: "group", "aria-labelledby": textId },
        h("p", { id: textId }, t("services.unlink_confirm", { service: isolate(s.client_name) })), yes, no);
      unlink.replaceWith(confirm);
      yes.focus();
      no.addEventListener("click", () => { confirm.replaceWith(unlink); unlink.focus(); });
      yes.addEventListener("click", async () => {
        yes.disabled = no.disabled = true;
        try {
          await api("DELETE", `/api/v1/device/me/services/${encodeURIComponent(s.client_id)}`, undefined, token);
          await renderServices(token, { focus: true }, t("services.unlinked", { service: isolate(s.client_name) }));
        } catch (error) {
          yes.disabled = no.disabled = false;
          showError(article, explain(error));
        }
      });
    });
    return article;
  });
  if (items.length) nodes.push(h("ul", { class: "services" }, items));
  nodes.push(homeLink());
  show(t("services.heading"), nodes, renderOptions);
}

function servicesScreen(options) {
  withSession(t("services.heading"), t("services.intro"), renderServices, options);
}

function dataScreen(options) {
  withSession(t("data.heading"), t("data.intro"), async (token, renderOptions) => {
    const data = await api("GET", "/api/v1/device/me", undefined, token);
    const rows = [
      ["data.hkid", data.hkid],
      ["data.name_en", data.name_en],
      ["data.name_zh", data.name_zh],
      ["data.dob", data.date_of_birth],
      ["data.gender", t(`gender.${data.gender}`)],
      ["data.tier", t(`tier.${data.tier}`)],
      ["data.registered", formatDate(data.registered_at, false)],
      ...(data.evidence || []).map((e) => ["data.evidence", `${t(`evidence.level.${e.level}`)}, ${formatDate(e.verified_at, false)}`]),
    ];
    show(t("data.heading"), [
      h("p", {}, t("data.intro")),
      h("dl", { class: "data", id: "my-data" }, rows.map(([key, value]) => [h("dt", {}, t(key)), h("dd", {}, value)])),
      homeLink(),
    ], renderOptions);
  }, options);
}

const SCREENS = {
  "/app/": homeScreen,
  "/app/register": registerScreen,
  "/app/login": loginScreen,
  "/app/services": servicesScreen,
  "/app/data": dataScreen,
};

/** The origin the app must run on: passkeys are bound to the issuer's host (WebAuthn rp id). */
let issuerOrigin = null;

function render(options) {
  if (issuerOrigin && issuerOrigin !== location.origin) {
    const there = `${issuerOrigin}/app/`;
    show(t("app.wrong_origin_heading"), [
      h("p", { id: "wrong-origin" }, t("app.wrong_origin", { address: issuerOrigin })),
      h("p", {}, h("a", { class: "button", href: there, id: "open-at-issuer" }, t("app.open_at_issuer", { address: there }))),
    ], options);
    return;
  }
  (SCREENS[location.pathname] || homeScreen)(options);
}

let online = true;

function showOffline() {
  const banner = document.getElementById("offline");
  banner.textContent = t("app.offline");
  banner.hidden = online && navigator.onLine !== false;
}

/** Whether the server answers: `navigator.onLine` says only that some network is there. */
async function checkOnline() {
  online = await fetch("/healthz", { cache: "no-store" }).then((r) => r.ok, () => false);
  showOffline();
}

async function start() {
  await setLanguage(chooseLanguage());
  for (const b of document.querySelectorAll("button[data-lang]")) {
    b.addEventListener("click", async () => {
      document.cookie = `civpass_lang=${b.dataset.lang}; path=/; max-age=31536000; samesite=lax`;
      await setLanguage(b.dataset.lang);
      render({ focus: false });
      b.focus();
    });
  }
  window.addEventListener("online", checkOnline);
  window.addEventListener("offline", checkOnline);
  const config = await configuration();
  if (config.issuer) issuerOrigin = new URL(config.issuer).origin;
  render({ focus: false });
  checkOnline();
  if ("serviceWorker" in navigator) navigator.serviceWorker.register("/app/sw.js", { scope: "/app/" }).catch(() => {});
}

start();
