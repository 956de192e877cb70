// What the citizen app and the counter console share: the languages, building pages with DOM
// calls (never innerHTML), calling civpass's JSON APIs, WebAuthn, and the HKID check digit.
// Plain JavaScript with no build step; loaded before each page's own script.
"use strict";

const LANGS = ["en", "zh-HK", "zh-CN"];
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
  if (typeof showOffline === "function") showOffline();
}

/** The header's language buttons: remember the choice (shared with the server's pages), switch, draw again. */
function onLanguageButtons(redraw) {
  for (const b of document.querySelectorAll("button[data-lang]")) {
    b.addEventListener("click", async () => {
      document.cookie = `civpass_lang=${b.dataset.lang}; path=/; max-age=31536000; samesite=lax`;
      await setLanguage(b.dataset.lang);
      await redraw();
      b.focus();
    });
  }
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

// ---- device API -----------------------------------------------------------------------------

class Problem extends Error {
  /** `body`: the problem details as sent (RFC 9457), with `errors` for refused fields. */
  constructor(slug, status, body = null) {
    super(slug);
    this.slug = slug;
    this.status = status;
    this.body = body;
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
    throw new Problem(response.status === 429 ? "too-many-requests" : slug, response.status, data);
  }
  return data;
}

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

// ---- a registration code and an identity card (the counter console and the kiosk) ----------

/** A scanner types the code and ends with Enter: go on to the card, not submit half a form. */
function scannerMovesOn(code, next) {
  code.input.addEventListener("keydown", (event) => {
    if (event.key === "Enter") { event.preventDefault(); next.input.focus(); }
  });
}

/** Marks what is missing or malformed in the code and the card; false (focus on the first) if any. */
function cardChecked(code, idNumber, name, dob) {
  const hkid = hkidProblem(idNumber.input.value);
  const problems = [
    [code, code.input.value.trim() ? "" : t("console.desk.code_missing")],
    [idNumber, hkid ? t(hkid) : ""],
    [name, name.input.value.trim() ? "" : t("console.desk.name_missing")],
    [dob, /^\d{4}-\d{2}-\d{2}$/.test(dob.input.value.trim()) ? "" : t("console.desk.dob_invalid")],
  ];
  for (const [f, message] of problems) setFieldError(f, message);
  const first = problems.find(([, message]) => message);
  first?.[0].input.focus();
  return !first;
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

