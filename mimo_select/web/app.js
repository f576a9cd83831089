// The mimo-select page: the catalog, a request builder and a paste box, all answered by this
// server's own API. No framework, no build step, no network beyond this origin; the DOM is
// built with textContent only (the page's CSP requires Trusted Types for any HTML sink).
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const KEY = "mimo-select-api-key";
  const TOKEN_UNITS = { K: 1024, M: 1048576 };
  const RATE_UNITS = { K: 1000, M: 1000000 };
  const state = { schema: null, models: [], details: {}, seq: 0, timer: 0 };

  // --- DOM ---------------------------------------------------------------------------------

  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === false || value === null || value === undefined) continue;
      if (name === "class") el.className = value;
      else if (name === "text") el.textContent = value;
      else el.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      el.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return el;
  }

  const num = (n) => (typeof n === "number" ? n.toLocaleString("en-US") : String(n));
  const SIGNS = { USD: "$", CNY: "¥" };

  function money(cost) {
    const text = String(Number(cost.amount.toPrecision(4)));
    return SIGNS[cost.currency] ? `${SIGNS[cost.currency]}${text}` : `${text} ${cost.currency}`;
  }

  // the catalog day asked for: a date picked wins over the list; "" is the server's own
  function day() {
    return $("as-of-day").value || $("as-of").value;
  }

  function withDay(path) {
    const d = day();
    if (!d) return path;
    return `${path}${path.includes("?") ? "&" : "?"}as_of=${encodeURIComponent(d)}`;
  }

  function tokens(n) {
    if (typeof n !== "number") return String(n);
    if (n >= 1048576 && n % 1048576 === 0) return `${n / 1048576}M`;
    if (n >= 1024 && n % 1024 === 0) return `${n / 1024}K`;
    return num(n);
  }

  function rate(n) {
    if (n === null || n === undefined) return "–";
    if (n >= 1000000 && n % 1000000 === 0) return `${n / 1000000}M`;
    if (n >= 1000 && n % 1000 === 0) return `${n / 1000}K`;
    return num(n);
  }

  function value(v) {
    if (v === null || v === undefined) return "none";
    if (Array.isArray(v)) return v.length ? v.join(", ") : "nothing";
    if (typeof v === "boolean") return v ? "yes" : "no";
    return num(v);
  }

  // --- the API -----------------------------------------------------------------------------

  async function api(path, { body, text } = {}) {
    const headers = {};
    const key = sessionStorage.getItem(KEY);
    if (key) headers.Authorization = `Bearer ${key}`;
    const init = { method: "GET", headers };
    if (body !== undefined || text !== undefined) {
      init.method = "POST";
      headers["Content-Type"] = text !== undefined ? "text/plain" : "application/json";
      init.body = text !== undefined ? text : JSON.stringify(body);
    }
    const response = await fetch(path, init);
    let data = null;
    try {
      data = await response.json();
    } catch (_) {
      data = { detail: `${response.status} ${response.statusText}` };
    }
    if (response.status === 401) {
      $("key-box").hidden = false;
      $("api-key").focus();
    }
    return { ok: response.ok, status: response.status, data };
  }

  function problem(data) {
    const where = data && (data.pointer !== undefined && data.pointer !== null ? data.pointer : data.where);
    return h("div", { class: "problem", role: "alert" },
      h("strong", { text: (data && data.title) || "Error" }), ": ",
      (data && data.detail) || "no answer",
      where ? h("span", { class: "where", text: ` (at ${where || "/"})` }) : null);
  }

  // --- the catalog -------------------------------------------------------------------------

  async function loadCatalog() {
    const schema = await api("/openapi.json");
    if (!schema.ok) {
      $("status").replaceChildren(problem(schema.data));
      return false;
    }
    state.schema = schema.data.components.schemas.Traits.properties;
    if (!(await loadModels())) return false;
    buildControls();
    return true;
  }

  // the catalog of the day asked for: the matrix, and the guide rows the scenarios name
  async function loadModels() {
    const models = await api(withDay("/v1/models"));
    if (!models.ok) {
      $("status").replaceChildren(problem(models.data));
      return false;
    }
    const details = await Promise.all(models.data.map((m) => api(withDay(`/v1/models/${encodeURIComponent(m.id)}`))));
    state.models = models.data;
    state.details = {};
    for (const d of details) if (d.ok) state.details[d.data.id] = d.data;
    buildMatrix();
    const asked = day();
    const which = !asked ? "as the source page stands" : asked === "today" ? "as of today" : `on ${asked}`;
    $("status").textContent = `${state.models.length} models in the catalog ${which}. Change the request to see the decision.`;
    return true;
  }

  function enumOf(field) {
    const s = state.schema[field] || {};
    const plain = s.anyOf ? s.anyOf.find((x) => x.type !== "null") : s;
    if (!plain) return [];
    return (plain.items ? plain.items.enum : plain.enum) || [];
  }

  function choices(container, name, kind, options, checked) {
    container.replaceChildren(...options.map((opt) => {
      const id = `${name}-${opt}`;
      return h("label", { class: "choice", for: id },
        h("input", { type: kind, id, name, value: opt, checked: checked.includes(opt) }),
        ` ${opt.replaceAll("_", " ")}`);
    }));
  }

  function buildControls() {
    choices($("input-modalities"), "input_modalities", "checkbox", enumOf("input_modalities"), ["text"]);
    choices($("output-modality"), "output_modality", "radio", enumOf("output_modality"), ["text"]);
    choices($("features"), "features", "checkbox", enumOf("features"), []);
    for (const v of enumOf("voice")) $("voice").append(h("option", { value: v, text: v }));
    for (const v of enumOf("latency")) $("latency").append(h("option", { value: v, text: v, selected: v === "normal" }));
    for (const v of enumOf("currency")) $("currency").append(h("option", { value: v, text: v, selected: v === "USD" }));
    const rows = {};
    for (const d of Object.values(state.details)) for (const g of d.guide) rows[g.scenario] = g.requirement;
    for (const s of enumOf("scenario")) {
      $("scenario").append(h("option", { value: s, text: rows[s] ? `${rows[s]} (${s})` : s }));
    }
  }

  function buildMatrix() {
    const caps = [];
    for (const m of state.models) for (const c of m.capabilities) if (!caps.includes(c)) caps.push(c);
    const kinds = enumOf("input_modalities");
    const head1 = h("tr", {},
      h("td", {}),
      h("th", { scope: "colgroup", colspan: 3, text: "Model" }),
      h("th", { scope: "colgroup", colspan: kinds.length + 1, text: "Modalities" }),
      h("th", { scope: "colgroup", colspan: caps.length, text: "Capabilities" }),
      h("th", { scope: "colgroup", colspan: 4, text: "Limits" }),
      h("th", { scope: "colgroup", text: "Guide" }));
    const head2 = h("tr", {},
      h("th", { scope: "col", text: "id" }),
      ["series", "generation", "status"].map((t) => h("th", { scope: "col", text: t })),
      kinds.map((k) => h("th", { scope: "col", text: `${k} in` })),
      h("th", { scope: "col", text: "output" }),
      caps.map((c) => h("th", { scope: "col", text: c.replaceAll("_", " ") })),
      ["context", "max output", "RPM", "TPM"].map((t) => h("th", { scope: "col", text: t })),
      h("th", { scope: "col", text: "rows (position)" }));
    const yes = (ok) => h("td", { class: ok ? "yes" : "no" },
      h("span", { "aria-hidden": "true", text: ok ? "✓" : "–" }),
      h("span", { class: "sr", text: ok ? "yes" : "no" }));
    const body = state.models.map((m) => {
      const d = state.details[m.id] || { status: "?", guide: [] };
      return h("tr", {},
        h("th", { scope: "row", text: m.id }),
        h("td", { text: m.series }), h("td", { text: m.generation }), h("td", { text: d.status }),
        kinds.map((k) => yes(m.input_modalities.includes(k))),
        h("td", { text: m.output_modalities.join(", ") }),
        caps.map((c) => yes(m.capabilities.includes(c))),
        h("td", { class: "n", text: tokens(m.context_window) }),
        h("td", { class: "n", text: tokens(m.max_output) }),
        h("td", { class: "n", text: rate(m.rpm) }),
        h("td", { class: "n", text: rate(m.tpm) }),
        h("td", { text: d.guide.map((g) => `${g.scenario} (${g.position})`).join(", ") || "–" }));
    });
    $("catalog").replaceChildren(
      h("caption", { class: "sr", text: "Every model with its modalities, capabilities, limits and guide rows" }),
      h("thead", {}, head1, head2), h("tbody", {}, body));
    $("catalog-source").textContent = "Lengths in tokens (K = 1,024, M = 1,048,576); RPM and TPM per account and per model (M = 1,000,000).";
  }

  // --- the request builder -----------------------------------------------------------------

  function parseCount(text, units) {
    const t = text.trim().replaceAll(",", "").replaceAll("_", "").toUpperCase();
    if (!t) return null;
    const m = /^(\d+(?:\.\d+)?)([KM]?)$/.exec(t);
    if (!m) return NaN;
    const n = Number(m[1]) * (m[2] ? units[m[2]] : 1);
    return Number.isInteger(n) ? n : NaN;
  }

  function checked(name) {
    return [...document.querySelectorAll(`input[name="${name}"]:checked`)].map((el) => el.value);
  }

  function traits() {
    const out = { input_modalities: checked("input_modalities") };
    const features = checked("features");
    if (features.length) out.features = features;
    const voice = $("voice").value;
    if (voice) out.voice = voice;
    else out.output_modality = checked("output_modality")[0] || "text";
    out.latency = $("latency").value || "normal";
    if ($("scenario").value) out.scenario = $("scenario").value;
    if ($("currency").value) out.currency = $("currency").value;
    let bad = false;
    const budget = $("max-cost").value.trim();
    const cost = budget ? Number(budget) : null;
    const badCost = cost !== null && !(Number.isFinite(cost) && cost >= 0);
    $("max-cost").setAttribute("aria-invalid", badCost ? "true" : "false");
    if (badCost) bad = true;
    else if (cost !== null) out.max_cost = cost;
    for (const [id, units] of [["input-tokens", TOKEN_UNITS], ["max-output", TOKEN_UNITS], ["rpm", RATE_UNITS], ["tpm", RATE_UNITS]]) {
      const el = $(id);
      const n = parseCount(el.value, units);
      el.setAttribute("aria-invalid", Number.isNaN(n) ? "true" : "false");
      if (Number.isNaN(n)) bad = true;
      else if (n !== null) out[el.name] = n;
    }
    return bad ? null : out;
  }

  function schedule() {
    clearTimeout(state.timer);
    $("decision").setAttribute("aria-busy", "true");
    state.timer = setTimeout(() => {
      state.timer = 0;
      recommend();
    }, 120);
  }

  async function recommend() {
    const t = traits();
    const target = $("decision");
    if (t === null) {
      target.replaceChildren(h("p", { class: "problem", role: "alert", text: "A number is not valid: counts take digits with K or M; the budget, a decimal number." }));
      if (!state.timer) target.setAttribute("aria-busy", "false");
      return;
    }
    const seq = ++state.seq;
    const strict = $("strict").checked ? "&strict=true" : "";
    const answer = await api(withDay(`/v1/recommend?exact=true${strict}`), { body: t });
    if (seq !== state.seq) return; // a newer request is on its way
    target.replaceChildren(answer.ok ? renderDecision(answer.data) : problem(answer.data));
    if (!state.timer) target.setAttribute("aria-busy", "false"); // else a newer one is due
  }

  // --- a decision --------------------------------------------------------------------------

  function violationItem(v) {
    // the numbers on both sides, where they say more than the message (not "none" twice)
    const telling = (v.required !== null || v.allowed !== null) &&
      JSON.stringify(v.required) !== JSON.stringify(v.allowed);
    return h("li", {},
      v.message, " ",
      h("span", { class: "rule", text: `[${v.rule}]` }),
      telling || !v.certain ? h("div", { class: "numbers" },
        telling ? h("span", { text: `${v.limit}: needs ${value(v.required)}; allows ${value(v.allowed)}` }) : null,
        v.certain ? null : h("span", { text: " (uncertain count)" })) : null);
  }

  const NEWS_WORDS = { retired: "retired", deprecated: "deprecated", deprecation_reported: "reported to be deprecated", added: "added" };

  function notice(n) {
    const said = n.official ? "official" : `unconfirmed, reported by ${n.reported_by}`;
    return h("li", { "data-model": n.model },
      h("strong", { text: n.model }),
      ` ${NEWS_WORDS[n.kind] || n.kind.replaceAll("_", " ")} on ${n.date}`,
      n.retires_on ? `; retires on ${n.retires_on}` : "",
      n.successor ? `; successor ${n.successor}` : "",
      n.note ? ` (${n.note})` : "",
      " ", h("span", { class: "source", text: `[${said}: ${n.source.title}]` }));
  }

  function renderDecision(d) {
    const parts = [];
    if (d.notices && d.notices.length) {
      parts.push(h("div", { class: "notices" }, h("h3", { text: "News of these models" }),
        h("ul", {}, d.notices.map(notice))));
    }
    if (d.requested) {
      parts.push(h("p", { class: d.requested.fits ? "ok" : "warn", text: `The body asks for ${d.requested.model}: ${d.requested.fits ? "it fits" : "it does not fit"}.` }));
    }
    if (d.tokens) {
      const t = d.tokens;
      const bounds = t.exact ? "exact" : `not exact: ${num(t.lower_bound)} to ${t.upper_bound === null ? "no known bound" : num(t.upper_bound)}`;
      parts.push(h("p", { class: "count", text: `Input: ${num(t.input)} tokens (${bounds})` }));
      if (t.notes) parts.push(h("ul", { class: "notes" }, t.notes.map((n) => h("li", { text: n }))));
    }
    if (d.model) {
      const best = d.ranked[0];
      parts.push(h("div", { class: "winner" },
        h("p", {}, "Recommended: ", h("strong", { class: "model", "data-model": d.model, text: d.model }),
          h("span", { class: "score", text: ` score ${num(best.score)}` }),
          best.cost ? h("span", { class: "cost", text: ` · about ${money(best.cost)} a request` }) : null),
        h("ul", { class: "reasons" }, best.reasons.map((r) => h("li", {}, r.message, " ", h("span", { class: "rule", text: `[${r.rule}]` }))))));
    } else {
      parts.push(h("p", { class: "none", text: "No model is eligible for this request." }));
    }
    if (d.lease) parts.push(h("p", { class: "hint", text: `Reserved on ${d.lease.model}: lease ${d.lease.id}` }));
    if (d.retry_after !== undefined) parts.push(h("p", { class: "warn", text: `Every eligible model is full; the first frees in ${d.retry_after} s.` }));
    if (d.ranked.length > 1) {
      parts.push(h("h3", { text: "Fallbacks, in order" }),
        h("ol", { class: "fallbacks", start: 2 }, d.ranked.slice(1).map((c) =>
          h("li", {}, h("span", { class: "model", text: c.model }), h("span", { class: "score", text: ` score ${num(c.score)}` }),
            c.cost ? h("span", { class: "cost", text: ` · about ${money(c.cost)}` }) : null))));
    }
    if (d.cautions && d.cautions.length) {
      parts.push(h("h3", { text: "May not fit (uncertain count)" }),
        h("ul", { class: "rejected" }, d.cautions.map((r) => h("li", {}, h("span", { class: "model", text: r.model }), h("ul", {}, r.violations.map(violationItem))))));
    }
    if (d.rejected.length) {
      parts.push(h("h3", { text: "Not eligible" }),
        h("ul", { class: "rejected" }, d.rejected.map((r) =>
          h("li", { "data-model": r.model }, h("span", { class: "model", text: r.model }), h("ul", {}, r.violations.map(violationItem))))));
    }
    if (d.plan) {
      const p = d.plan;
      parts.push(h("h3", { text: "Load plan" }),
        h("p", { text: `No single model takes the planned load${p.covers ? "; a split that fits:" : "; the best split covers only part of it:"}` }),
        h("ul", {}, p.split.map((s) => h("li", { text: `${s.model}: ${Math.round(s.share * 100)}%${s.rpm !== null ? `, ${num(s.rpm)} RPM` : ""}${s.tpm !== null ? `, ${num(s.tpm)} TPM` : ""}` }))),
        p.accounts_needed ? h("p", { text: `or ${p.accounts_needed.accounts} accounts on ${p.accounts_needed.model}` }) : null);
    }
    if (d.suggestions && d.suggestions.length) {
      parts.push(h("h3", { text: "What would make a model fit" }),
        h("ul", {}, d.suggestions.map((s) => h("li", {}, h("span", { class: "model", text: s.model }), `: ${s.changes.join("; ")}`))));
    }
    return h("div", { class: "decision" }, parts);
  }

  // --- the paste box -----------------------------------------------------------------------

  async function paste(event) {
    event.preventDefault();
    const text = $("paste").value;
    const target = $("paste-result");
    if (!text.trim()) {
      target.replaceChildren(h("p", { class: "hint", text: "Paste a body or a prompt first." }));
      return;
    }
    let json;
    try {
      json = JSON.parse(text);
    } catch (_) {
      json = undefined;
    }
    const isBody = json !== undefined && json !== null && typeof json === "object";
    target.replaceChildren(h("p", { class: "hint", text: "Counting…" }));
    const [count, route] = await Promise.all([
      isBody ? api("/v1/tokens", { body: json }) : api("/v1/tokens", { text }),
      api(withDay("/v1/route?reserve=false&exact=true"), { body: isBody ? json : { prompt: text } }),
    ]);
    const parts = [];
    if (count.ok) {
      const c = count.data;
      const bounds = c.exact ? "exact" : `not exact: ${num(c.lower_bound)} to ${c.upper_bound === null ? "no known bound" : num(c.upper_bound)}`;
      parts.push(h("p", { class: "count", id: "paste-count", text: `${num(c.input)} tokens (${bounds}), read as ${c.api}` }));
    } else {
      parts.push(problem(count.data));
    }
    parts.push(route.ok ? renderDecision(route.data) : problem(route.data));
    target.replaceChildren(...parts);
  }

  // --- start -------------------------------------------------------------------------------

  function isDay(el) {
    return el.id === "as-of" || el.id === "as-of-day";
  }

  async function start() {
    $("key-form").addEventListener("submit", (event) => {
      event.preventDefault();
      sessionStorage.setItem(KEY, $("api-key").value);
      $("key-box").hidden = true;
      start2();
    });
    $("traits-form").addEventListener("input", (event) => {
      if (!isDay(event.target)) schedule(); // a day reloads on change
    });
    $("traits-form").addEventListener("change", async (event) => {
      if (isDay(event.target)) {
        clearTimeout(state.timer);
        state.timer = 0;
        $("decision").setAttribute("aria-busy", "true");
        if (await loadModels()) recommend();
        return;
      }
      if (event.target.id === "voice" && event.target.value) {
        const speech = document.querySelector('input[name="output_modality"][value="speech"]');
        if (speech) speech.checked = true;
      }
      schedule();
    });
    $("traits-form").addEventListener("reset", () => setTimeout(async () => {
      if (await loadModels()) schedule(); // the day is reset too
    }, 0));
    $("paste-form").addEventListener("submit", paste);
    await start2();
  }

  async function start2() {
    if (state.models.length || (await loadCatalog())) recommend();
  }

  document.addEventListener("DOMContentLoaded", start);
})();
