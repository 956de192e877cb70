// The civpass app: registration with a passkey, login approval, my services and my data.
// Plain JavaScript with no build step, so the server can compile it in as it is. Everything
// shown comes from the device API; pages are built with DOM calls (never innerHTML), so a
// service's name cannot inject markup.
"use strict";

const DEVICE_KEY = "civpass.device";
const SESSION_KEY = "civpass.session";

/** Problems after which the login request can no longer be decided. */
const FINAL_PROBLEMS = [
  "wrong-match-code", "login-request-decided", "login-request-expired", "login-request-not-found",
  "account-level-too-low", "other-citizen", "account-suspended", "awaiting-guardian",
];

function device() {
  try {
    return JSON.parse(localStorage.getItem(DEVICE_KEY));
  } catch {
    return null;
  }
}

function homeLink() {
  return h("p", {}, h("a", { href: "/app/" }, t("back")));
}

// ---- screens --------------------------------------------------------------------------------

function homeScreen(options) {
  const registered = device();
  if (!registered) {
    show(t("home.heading"), [
      h("p", {}, t("home.welcome")),
      h("p", {}, h("a", { class: "button", href: "/app/register", id: "register-link" }, t("home.register"))),
      h("p", {}, h("a", { href: "/app/counter", id: "counter-register-link" }, t("home.register_at_counter"))),
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
        h("li", {}, h("a", { href: "/app/data", id: "data-link" }, t("nav.data"))),
        h("li", {}, h("a", { href: "/app/eme", id: "eme-link" }, t("nav.eme"))),
        h("li", {}, h("a", { href: "/app/devices", id: "devices-link" }, t("nav.devices"))),
        h("li", {}, h("a", { href: "/app/counter", id: "counter-link" }, t("nav.counter"))),
        h("li", {}, h("a", { href: "/app/pending", id: "pending-link" }, t("nav.pending"))))),
  ], options);
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
  // A citizen aged 11 to 17 names a parent or guardian, who approves in their own app.
  const guardian = field("guardian", t("register.guardian"), t("register.guardian_hint"), { autocomplete: "off", autocapitalize: "characters", spellcheck: "false" });
  const guardianNode = guardian.node();
  const minor = () => {
    const born = new Date(`${dob.input.value}T00:00:00`);
    if (Number.isNaN(born.getTime())) return false;
    const now = new Date();
    let age = now.getFullYear() - born.getFullYear();
    if (now.getMonth() < born.getMonth() || (now.getMonth() === born.getMonth() && now.getDate() < born.getDate())) age -= 1;
    return age < 18;
  };
  guardianNode.hidden = true;
  // A lost phone: the account moves here, on a strong identity check, the old phone revoked.
  const replace = h("input", { type: "checkbox", id: "replace-lost", name: "replace-lost" });
  const replaceNode = h("div", { class: "check" }, replace, h("label", { for: "replace-lost" }, t("register.replace_lost")));
  dob.input.addEventListener("change", () => { guardianNode.hidden = !minor(); });
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
    hkid.node(), name.node(), dob.node(), guardianNode, replaceNode, evidence.node, submit, status);
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
        guardian_id_number: minor() && guardian.input.value.trim() ? guardian.input.value.trim() : undefined,
        replace_lost_device: replace.checked || undefined,
      });
      status.textContent = t("register.passkey_prompt");
      const credential = await createPasskey(started.passkey);
      const done = await api("POST", `/api/v1/device/passkey-registrations/${encodeURIComponent(started.ceremony_id)}`, { credential });
      localStorage.setItem(DEVICE_KEY, JSON.stringify({ device_id: done.device_id, tier: done.tier }));
      show(t("register.done_heading"), [
        h("p", { id: "registered" }, t("register.done")),
        done.awaiting_guardian ? h("p", { class: "notice", id: "awaiting-guardian" }, t("register.awaiting_guardian")) : null,
        done.moves_at ? h("p", { class: "notice", id: "moves-at" }, t("register.moves_at", { time: formatDate(done.moves_at, true) })) : null,
        homeLink(),
      ]);
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
    // With an app session open, the request comes with the values each item would share.
    const open = session();
    view = await api("GET", `/api/v1/device/login-requests/${encodeURIComponent(requestId)}`, undefined, open ? open.token : undefined)
      .catch((error) => {
        if (open && error instanceof Problem && error.status === 401) {
          sessionStorage.removeItem(SESSION_KEY);
          return api("GET", `/api/v1/device/login-requests/${encodeURIComponent(requestId)}`);
        }
        throw error;
      });
  } catch (error) {
    show(t("problem.generic"), [alertBox(explain(error)), homeLink()], options);
    return;
  }
  const service = isolate(view.client_name);
  const boxes = [];
  const anonymous = Boolean(view.form && view.form.anonymous);
  const items = view.scopes.map((scope) => {
    let text = t(`scope.${scope.scope}`) === `scope.${scope.scope}` ? scope.description : t(`scope.${scope.scope}`);
    if (anonymous && scope.scope === "openid") text = t("approve.one_time_identifier");
    if (!scope.optional) return h("li", {}, `${text} `, h("span", { class: "hint" }, t("approve.required")));
    const id = `scope-${scope.scope}`;
    const box = h("input", { type: "checkbox", id, checked: true, value: scope.scope, "aria-describedby": `${id}-claims` });
    boxes.push(box);
    // Exactly what ticking it shares: each claim, with its value when the app can show it.
    const claims = (scope.claims || []).filter((c) => !c.name.endsWith("_verified")).map((c) => {
      const value = c.value === undefined ? (view.scopes.some((s) => (s.claims || []).some((x) => x.value !== undefined)) ? t("approve.not_in_eme") : "") : claimText(c.value);
      return h("li", {}, value ? `${t(`claim.${c.name}`)}: ${value}` : t(`claim.${c.name}`));
    });
    return h("li", {}, h("div", { class: "check" }, box, h("label", { for: id }, text)),
      scope.essential ? h("p", { class: "hint essential" }, t("approve.essential")) : null,
      claims.length ? h("ul", { class: "claims", id: `${id}-claims` }, claims) : null);
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
  const form = view.form
    ? h("section", { class: "notice", id: "form-box" },
      h("h2", {}, t("approve.form", { form: view.form.form_name })),
      view.form.form_number ? h("p", {}, t("approve.form_number", { number: view.form.form_number })) : null,
      view.form.description ? h("p", {}, view.form.description) : null,
      view.form.anonymous ? h("p", { id: "anonymous-notice" }, t("approve.anonymous")) : null,
      view.form.anonymous && view.form.fields.some((f) => IDENTIFYING.includes(f))
        ? h("p", { class: "warning", id: "identifying-warning" }, t("approve.anonymous_identifying"))
        : null)
    : null;
  const purpose = view.purpose ? h("p", { id: "purpose" }, t("approve.purpose", { purpose: view.purpose })) : null;
  const showValues = !session() && view.scopes.some((s) => s.optional)
    ? h("p", {}, h("a", { href: "/app/eme", id: "see-values" }, t("approve.see_values")))
    : null;
  const panel = h("div", {}, h("p", {}, t("approve.intro", { service })), form, purpose, contextBox(view), fieldset, showValues,
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
        const upgrade = error.slug === "account-level-too-low"
          ? [h("p", {}, t("upgrade.ways")), h("ul", { id: "upgrade-ways" },
            h("li", {}, h("a", { href: "/app/counter", id: "upgrade-at-counter" }, t("upgrade.at_counter"))),
            h("li", {}, t("upgrade.remote")))]
          : [];
        show(t("approve.ended_heading"), [alertBox(explain(error)), ...upgrade, homeLink()]);
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
      claims: joinList(r.claims.map((c) => (c.startsWith("verified_claims/")
        ? t("claim.verified", { claim: t(`claim.${c.slice("verified_claims/".length)}`) })
        : t(`claim.${c}`)))),
    })));
    const unlink = button(t("services.unlink", { service: isolate(s.client_name) }), { class: "secondary", "data-client": s.client_id });
    const article = h("li", { class: "service" },
      h("h2", {}, s.client_name),
      h("p", {}, t("services.linked_at", { date: formatDate(s.linked_at, false) })),
      h("h3", {}, t("services.agreed")),
      h("ul", {}, s.scopes.map((scope) => h("li", {}, t(`scope.${scope}`)))),
      s.purpose ? h("p", {}, t("services.purpose", { purpose: s.purpose })) : null,
      s.expires_at ? h("p", {}, t("services.expires", { date: formatDate(s.expires_at, false) })) : null,
      receiptButton(s, token),
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
  const fillings = await api("GET", "/api/v1/device/me/fillings", undefined, token);
  if (fillings.length) {
    nodes.push(h("h2", {}, t("services.fillings_heading")), h("p", {}, t("services.fillings_intro")),
      h("ul", { id: "fillings" }, fillings.map((f) => h("li", {}, t("services.filling", {
        date: formatDate(f.filled_at, true), service: isolate(f.client_name), form: f.form_name,
        claims: joinList(f.claims.map((c) => t(`claim.${c}`))),
      })))));
  }
  nodes.push(homeLink());
  show(t("services.heading"), nodes, renderOptions);
}

// ---- e-ME: the data vault ---------------------------------------------------------------------

/** A claim's value as one line: an address as its formatted form. */
function claimText(value) {
  if (value === null || value === undefined) return "";
  if (typeof value === "boolean") return value ? t("eme.yes") : t("eme.no");
  if (typeof value === "object") return value.formatted || Object.values(value).join(", ");
  return String(value);
}

/** Fields that name the citizen: an "anonymous" form asking for them is anonymous in name only. */
const IDENTIFYING = ["name", "family_name", "given_name", "name#zh-Hant-HK", "hkid", "email", "phone_number", "home_phone_number", "office_phone_number", "address", "address#zh-Hant-HK", "postal_address", "postal_address#zh-Hant-HK", "address_proof"];

const EME_CHOICES = {
  title: ["Mr", "Mrs", "Ms", "Miss", "Dr", "Prof"],
  marital_status: ["single", "married", "divorced", "widowed", "separated"],
  education_level: ["primary", "secondary", "post_secondary", "bachelor", "master", "doctorate"],
};
const EME_TEXT = [["phone_number", "tel"], ["home_phone_number", "tel"], ["office_phone_number", "tel"], ["email", "email"]];
const ADDRESS_PARTS = ["flat", "floor", "block", "building", "estate", "street_number", "street_name", "district"];

function sourceText(f) {
  if (f.source === "registry") return t("eme.source.registry");
  if (f.source === "verified") return t("eme.source.verified", { method: t(`eme.method.${f.method}`), date: formatDate(f.updated_at, false) });
  return t("eme.source.self_declared", { date: formatDate(f.updated_at, false) });
}

async function renderEme(token, renderOptions, notice) {
  const vault = await api("GET", "/api/v1/device/me/eme", undefined, token);
  const held = Object.fromEntries(vault.fields.map((f) => [f.name, f]));
  const nodes = [h("p", {}, t("eme.intro"))];
  if (notice) nodes.unshift(h("p", { role: "status", class: "notice", id: "notice" }, notice));
  const registry = vault.fields.filter((f) => f.source === "registry");
  nodes.push(h("h2", {}, t("eme.registry_heading")),
    h("dl", { class: "data", id: "registry-fields" }, registry.map((f) => [h("dt", {}, t(`claim.${f.name}`)), h("dd", {}, claimText(f.value))])),
    h("p", { class: "hint" }, t("eme.source.registry")));

  const inputs = {};
  const controls = [];
  const sourceOf = (name) => held[name] ? h("p", { class: "hint", id: `eme-${name.replace(/[#.]/g, "-")}-source` }, sourceText(held[name])) : null;
  for (const [name, codes] of Object.entries(EME_CHOICES)) {
    const id = `eme-${name}`;
    const select = h("select", { id, name: id }, h("option", { value: "" }, t("eme.none")),
      codes.map((c) => h("option", { value: c, selected: held[name] && held[name].value === c ? true : undefined }, t(`eme.${name}.${c}`))));
    const error = h("p", { class: "field-error", id: `${id}-error` });
    inputs[name] = { input: select, error, initial: held[name] ? held[name].value : "" };
    controls.push(h("div", { class: "field" }, h("label", { for: id }, t(`claim.${name}`)), sourceOf(name), error, select));
  }
  for (const [name, type] of EME_TEXT) {
    const f = field(`eme-${name}`, t(`claim.${name}`), t(`eme.hint.${name}`), { type, value: held[name] ? held[name].value : "", autocomplete: name === "email" ? "email" : "tel" });
    inputs[name] = { ...f, initial: held[name] ? held[name].value : "" };
    const node = f.node();
    const source = sourceOf(name);
    if (source) node.insertBefore(source, node.querySelector(".field-error"));
    controls.push(node);
  }
  for (const [name, lang] of [["address", "en"], ["address#zh-Hant-HK", "zh"]]) {
    const parts = (held[name] && held[name].value) || {};
    const legendId = `legend-${lang}`;
    const group = [];
    for (const part of ADDRESS_PARTS) {
      const key = `${name}.${part}`;
      const id = `eme-${lang}-address-${part}`;
      const f = field(id, t(`eme.address.${part}`), "", { value: parts[part] || "", autocomplete: "off" });
      inputs[key] = { ...f, initial: parts[part] || "" };
      group.push(f.node());
    }
    controls.push(h("fieldset", { "aria-labelledby": legendId }, h("legend", { id: legendId }, t(`claim.${name}`)), sourceOf(name), group));
  }
  for (const name of ["postal_address", "postal_address#zh-Hant-HK"]) {
    const id = `eme-${name.replace(/[#.]/g, "-")}`;
    const initial = held[name] && held[name].value ? held[name].value.formatted || "" : "";
    const f = field(id, t(`claim.${name}`), t("eme.hint.postal"), { value: initial, autocomplete: "off" });
    inputs[name] = { ...f, initial };
    controls.push(f.node());
  }
  const save = button(t("eme.save"), { id: "eme-save", class: "primary", type: "submit" });
  const status = h("p", { role: "status", id: "eme-status" });
  const form = h("form", { id: "eme-form", novalidate: true }, controls, save, status);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const changes = {};
    for (const [name, f] of Object.entries(inputs)) {
      const value = f.input.value.trim();
      setFieldError(f, "");
      if (value !== String(f.initial || "")) changes[name] = value === "" ? null : value;
    }
    if (!Object.keys(changes).length) { status.textContent = t("eme.unchanged"); return; }
    save.disabled = true;
    status.textContent = t("eme.saving");
    try {
      await api("PATCH", "/api/v1/device/me/eme", { changes }, token);
      await renderEme(token, { focus: true }, t("eme.saved"));
    } catch (error) {
      save.disabled = false;
      status.textContent = "";
      const refused = error.body && Array.isArray(error.body.errors) ? error.body.errors : [];
      let first = null;
      for (const e of refused) {
        const f = inputs[e.pointer];
        if (f) { setFieldError(f, e.detail); first = first || f.input; }
      }
      showError(form, refused.length ? t("eme.refused") : explain(error));
      if (first) first.focus();
    }
  });
  nodes.push(h("h2", {}, t("eme.yours_heading")), form);

  // Address proofs: a PDF, JPEG or PNG file, known by its content on the server.
  const proofs = held.address_proof ? held.address_proof.value : [];
  const upload = h("input", { type: "file", id: "proof-file", accept: "application/pdf,image/jpeg,image/png", "aria-describedby": "proof-hint" });
  const uploadStatus = h("p", { role: "status", id: "proof-status" });
  const proofSection = h("section", { "aria-labelledby": "proof-heading" },
    h("h2", { id: "proof-heading" }, t("claim.address_proof")),
    proofs.length ? h("ul", { id: "proofs" }, proofs.map((d) => {
      const remove = button(t("eme.proof.delete"), { class: "secondary", "data-proof": d.id });
      remove.addEventListener("click", async () => {
        remove.disabled = true;
        try {
          await api("DELETE", `/api/v1/device/me/eme/address_proof/${encodeURIComponent(d.id)}`, undefined, token);
          await renderEme(token, { focus: true }, t("eme.proof.deleted"));
        } catch (error) {
          remove.disabled = false;
          showError(proofSection, explain(error));
        }
      });
      return h("li", {}, t("eme.proof.item", { type: d.content_type.split("/")[1].toUpperCase(), size: Math.ceil(d.size / 1024), date: formatDate(d.uploaded_at, false) }), " ", remove);
    })) : null,
    h("label", { for: "proof-file" }, t("eme.proof.add")),
    h("p", { class: "hint", id: "proof-hint" }, t("eme.proof.hint")),
    upload, uploadStatus);
  upload.addEventListener("change", async () => {
    const file = upload.files[0];
    if (!file) return;
    uploadStatus.textContent = t("eme.saving");
    try {
      const response = await fetch("/api/v1/device/me/eme/address_proof", { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/octet-stream" }, body: file, cache: "no-store" });
      if (response.status === 413) throw new Problem("document-too-large", 413);
      if (!response.ok) {
        const data = await response.json().catch(() => null);
        throw new Problem(data && data.type ? data.type.split("/").pop() : "generic", response.status, data);
      }
      await renderEme(token, { focus: true }, t("eme.proof.added"));
    } catch (error) {
      uploadStatus.textContent = "";
      const detail = error.body && Array.isArray(error.body.errors) && error.body.errors[0] ? error.body.errors[0].detail : null;
      showError(proofSection, detail || explain(error));
    }
  });
  nodes.push(proofSection);

  // Verification of contact data.
  const verify = [];
  for (const name of ["email", "phone_number"]) {
    if (!held[name] || held[name].source === "verified") continue;
    const start = button(t(`eme.verify.${name}`), { class: "secondary", id: `verify-${name}` });
    const box = h("div", { class: "verify" }, start);
    start.addEventListener("click", async () => {
      start.disabled = true;
      try {
        const started = await api("POST", `/api/v1/device/me/eme/${name}/verification`, undefined, token);
        if (name === "email") {
          box.replaceChildren(h("p", { role: "status", id: "email-sent" }, t("eme.verify.email_sent")));
          return;
        }
        const code = field("sms-code", t("eme.verify.code"), t("eme.verify.code_hint"), { inputmode: "numeric", autocomplete: "one-time-code", maxlength: "6" });
        const confirm = button(t("eme.verify.confirm"), { class: "primary", id: "confirm-code" });
        box.replaceChildren(code.node(), confirm);
        code.input.focus();
        confirm.addEventListener("click", async () => {
          confirm.disabled = true;
          try {
            await api("POST", `/api/v1/device/me/eme/phone_number/verification/${encodeURIComponent(started.verification_id)}`, { code: code.input.value.trim() }, token);
            await renderEme(token, { focus: true }, t("eme.verify.phone_done"));
          } catch (error) {
            confirm.disabled = false;
            setFieldError(code, explain(error));
          }
        });
      } catch (error) {
        start.disabled = false;
        showError(box, explain(error));
      }
    });
    verify.push(box);
  }
  if (verify.length) nodes.push(h("h2", {}, t("eme.verify.heading")), ...verify);
  nodes.push(homeLink());
  show(t("eme.heading"), nodes, renderOptions);
}

function emeScreen(options) {
  withSession(t("eme.heading"), t("eme.intro"), renderEme, options);
}

/**
 * The page an e-mail verification link opens: the token is after `#`, never sent in a URL, and
 * it is confirmed with this phone's own app session, so only the account that asked for it can.
 */
function verifyEmailScreen(options) {
  const token = location.hash.slice(1);
  withSession(t("verify_email.heading"), t("verify_email.intro"), async (session, renderOptions) => {
    const confirm = button(t("verify_email.confirm"), { id: "confirm-email", class: "primary" });
    const panel = h("div", {}, h("p", {}, t("verify_email.intro")), confirm);
    confirm.addEventListener("click", async () => {
      confirm.disabled = true;
      try {
        await api("POST", "/api/v1/device/me/eme/email/confirmation", { token }, session);
        history.replaceState(null, "", "/app/verify-email");
        show(t("verify_email.done_heading"), [h("p", { id: "outcome" }, t("verify_email.done")), homeLink()]);
      } catch (error) {
        confirm.disabled = false;
        showError(panel, explain(error));
      }
    });
    show(t("verify_email.heading"), [panel], renderOptions);
  }, options);
}

/** Downloads the consent receipt (a signed JWT) for a service. */
function receiptButton(s, token) {
  const get = button(t("services.receipt"), { class: "secondary", "data-receipt": s.client_id });
  get.addEventListener("click", async () => {
    const response = await fetch(`/api/v1/device/me/services/${encodeURIComponent(s.client_id)}/receipt`, { headers: { authorization: `Bearer ${token}` }, cache: "no-store" });
    if (!response.ok) return;
    const link = h("a", { href: URL.createObjectURL(new Blob([await response.text()], { type: "application/jwt" })), download: "consent-receipt.jwt" });
    document.body.append(link);
    link.click();
    link.remove();
  });
  return get;
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

// ---- my devices and the account's history ---------------------------------------------------

function devicesScreen(options) {
  withSession(t("devices.heading"), t("devices.intro"), async (token, renderOptions) => {
    const [devices, history] = await Promise.all([
      api("GET", "/api/v1/device/me/devices", undefined, token),
      api("GET", "/api/v1/device/me/history", undefined, token),
    ]);
    const status = h("div", { id: "devices-status", role: "status" });
    const items = devices.map((d) => {
      const state = d.revoked_at ? t("devices.revoked", { date: formatDate(d.revoked_at, true) }) : d.current ? t("devices.current") : t("devices.active");
      const revoke = !d.revoked_at && !d.current ? button(t("devices.revoke"), { class: "danger", "data-device": d.id }) : null;
      revoke?.addEventListener("click", async () => {
        if (!confirm(t("devices.revoke_confirm"))) return;
        try {
          await api("POST", `/api/v1/device/me/devices/${encodeURIComponent(d.id)}/revoke`, undefined, token);
          devicesScreen({ focus: false });
        } catch (error) {
          status.replaceChildren(alertBox(explain(error)));
        }
      });
      return h("li", { class: "service", "data-device": d.id },
        h("h2", {}, t(`devices.kind.${d.kind}`)),
        h("p", {}, t("devices.added", { date: formatDate(d.added_at, true) }), " · ", state),
        revoke);
    });
    const pointName = (point) => point ? point[lang === "zh-HK" ? 1 : lang === "zh-CN" ? 2 : 0] : "";
    const events = history.slice().reverse().map((e) => h("li", {},
      h("strong", {}, t(`history.${e.what}`)), " · ", formatDate(e.at, true), " · ",
      e.point ? t("history.at_point", { point: isolate(pointName(e.point)) }) : t(`history.channel.${e.channel}`)));
    show(t("devices.heading"), [
      status,
      h("p", {}, t("devices.intro")),
      h("ul", { class: "services", id: "devices" }, items),
      h("p", { class: "hint" }, t("devices.lost")),
      h("h2", {}, t("history.heading")),
      h("ul", { id: "history" }, events),
      homeLink(),
    ], renderOptions);
  }, options);
}

// ---- at a registration point ----------------------------------------------------------------

/**
 * Shows a registration code for this phone, then what the officer did, to confirm here: with
 * the app's session for a registered phone, or, on a phone with no account yet, with a passkey
 * made for it now (a new citizen registers at Plus; a lost phone's account moves here).
 */
function counterScreen(options) {
  if (!device()) {
    newPhoneAtCounter(options);
    return;
  }
  withSession(t("counter.heading"), t("counter.intro"), async (token, renderOptions) => {
    const issued = await api("POST", "/api/v1/device/me/registration-code", undefined, token);
    showCode(issued, token, "/api/v1/device/me/pending", renderOptions);
  }, options);
}

function newPhoneAtCounter(options) {
  const make = button(t("counter.new_make"), { id: "make-counter-passkey", class: "primary" });
  const panel = h("div", {}, h("p", {}, t("counter.new_intro")), h("p", { class: "hint" }, t("counter.new_hint")), make, homeLink());
  make.addEventListener("click", async () => {
    make.disabled = true;
    try {
      const started = await api("POST", "/api/v1/device/counter-passkeys", {});
      const credential = await createPasskey(started.passkey);
      const made = await api("POST", `/api/v1/device/counter-passkeys/${encodeURIComponent(started.ceremony_id)}`, { credential });
      showCode(made, made.token, "/api/v1/device/counter-passkey-pending", { focus: true });
    } catch (error) {
      make.disabled = false;
      showError(panel, explain(error));
    }
  });
  show(t("counter.heading"), [panel], options);
}

/** The code with its QR code; polls `pendingPath` with `token` for what the officer did. */
function showCode(issued, token, pendingPath, renderOptions) {
  const waiting = h("div", { id: "pending", "aria-live": "polite" }, h("p", {}, t("counter.waiting")));
  const again = button(t("counter.new_code"), { id: "new-code", class: "secondary" });
  again.addEventListener("click", () => counterScreen({ focus: true }));
  show(t("counter.heading"), [
    h("p", {}, t("counter.show_code")),
    issued.qr ? h("p", { class: "qr" }, h("img", { src: issued.qr, alt: t("counter.qr_alt", { code: issued.code }), width: "240", height: "240" })) : null,
    h("p", { class: "match", id: "registration-code" }, issued.code),
    h("p", { class: "hint" }, t("counter.expires", { time: formatDate(issued.expires_at, true) })),
    waiting,
    again,
    homeLink(),
  ], renderOptions);
  let shown = "";
  const poll = async () => {
    if (!document.getElementById("registration-code") && !document.getElementById("confirm-act")) return;
    try {
      const { pending } = await api("GET", pendingPath, undefined, token);
      const key = pending.map((p) => p.id).join(",");
      if (key !== shown) {
        shown = key;
        waiting.replaceChildren(...(pending.length ? pending.map((p) => pendingCard(p, token, pendingPath)) : [h("p", {}, t("counter.waiting"))]));
      }
    } catch (error) {
      waiting.replaceChildren(alertBox(explain(error)));
      return;
    }
    setTimeout(poll, 2000);
  };
  setTimeout(poll, 1000);
}

/** What waits for this citizen's approval: a minor's registration, as their guardian. */
function pendingScreen(options) {
  withSession(t("pending.heading"), t("pending.intro"), async (token, renderOptions) => {
    const { pending } = await api("GET", "/api/v1/device/me/pending", undefined, token);
    show(t("pending.heading"), [
      pending.length ? h("div", { id: "pending" }, pending.map((p) => pendingCard(p, token))) : h("p", { id: "nothing-pending" }, t("pending.none")),
      homeLink(),
    ], renderOptions);
  }, options);
}

function pendingCard(p, token, pendingPath = "/api/v1/device/me/pending") {
  const point = lang === "zh-HK" ? p.point_name_zh_hant : lang === "zh-CN" ? p.point_name_zh_hans : p.point_name_en;
  const confirmButton = button(p.kind === "recovery" ? t("counter.recovery_stop") : t("counter.confirm"), { id: "confirm-act", class: p.kind === "recovery" ? "danger" : "primary" });
  const guardianApproval = p.kind === "guardian_approval";
  const recovery = p.kind === "recovery";
  const card = h("div", { class: "context", "data-act": p.id },
    h("h2", {}, t(`counter.kind.${p.kind}`)),
    h("p", {}, recovery ? t("counter.recovery", { time: formatDate(p.expires_at, true) })
      : guardianApproval ? t("counter.guardian", { name: isolate(p.name_en) }) : t("counter.act", { point: isolate(point), name: isolate(p.name_en) })),
    h("p", { class: "hint" }, t("counter.confirm_by", { time: formatDate(p.expires_at, true) })),
    confirmButton);
  confirmButton.addEventListener("click", async () => {
    confirmButton.disabled = true;
    try {
      const challenge = await api("POST", `${pendingPath}/${encodeURIComponent(p.id)}/challenge`, undefined, token);
      const passkey = await usePasskey(challenge.passkey);
      const done = await api("POST", `${pendingPath}/${encodeURIComponent(p.id)}/confirm`, { ceremony_id: challenge.ceremony_id, passkey }, token);
      if (recovery) {
        show(t("counter.done_heading"), [h("p", { role: "status", id: "confirmed" }, t("counter.recovery_stopped")), homeLink()], { focus: true });
        return;
      }
      if (guardianApproval) {
        show(t("counter.done_heading"), [
          h("p", { role: "status", id: "confirmed" }, t("counter.guardian_done", { name: isolate(p.name_en) })),
          homeLink(),
        ], { focus: true });
        return;
      }
      // A registered phone's tier, or, for a passkey made at the counter, the new device.
      localStorage.setItem(DEVICE_KEY, JSON.stringify({ ...(device() || {}), device_id: done.device_id, tier: done.tier }));
      show(t("counter.done_heading"), [
        h("p", { role: "status", id: "confirmed" }, t("counter.done", { tier: t(`tier.${done.tier}`) })),
        homeLink(),
      ], { focus: true });
    } catch (error) {
      confirmButton.disabled = false;
      showError(card, explain(error));
    }
  });
  return card;
}

const SCREENS = {
  "/app/": homeScreen,
  "/app/register": registerScreen,
  "/app/login": loginScreen,
  "/app/services": servicesScreen,
  "/app/data": dataScreen,
  "/app/devices": devicesScreen,
  "/app/counter": counterScreen,
  "/app/pending": pendingScreen,
  "/app/eme": emeScreen,
  "/app/verify-email": verifyEmailScreen,
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
  onLanguageButtons(() => render({ focus: false }));
  window.addEventListener("online", checkOnline);
  window.addEventListener("offline", checkOnline);
  const config = await configuration();
  if (config.issuer) issuerOrigin = new URL(config.issuer).origin;
  render({ focus: false });
  checkOnline();
  if ("serviceWorker" in navigator) navigator.serviceWorker.register("/app/sw.js", { scope: "/app/" }).catch(() => {});
}

start();
