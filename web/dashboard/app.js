// steerdns dashboard: polls the native JSON API (docs/api.md) and renders it; the buttons call
// the same API. No framework, nothing fetched from anywhere but this origin (the page's
// Content-Security-Policy would block it anyway). Data is only ever put into the page with
// textContent, never as HTML.
"use strict";

(function () {
  const POLL_MS = 1500;
  const TOKEN_KEY = "steerdns.token";
  const DURATION = /^(\d+(ms|s|m|h|d))+$/;

  const $ = (sel, root) => (root || document).querySelector(sel);
  const el = (tag, attrs, ...kids) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") e.className = v;
      else if (k === "text") e.textContent = v;
      else e.setAttribute(k, v);
    }
    for (const k of kids) e.append(k);
    return e;
  };

  // ---- API access ----

  class ApiError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  function token() {
    return sessionStorage.getItem(TOKEN_KEY) || "";
  }

  // One API call: the parsed JSON reply, or an ApiError carrying the API's own message.
  async function api(method, path, body) {
    const headers = {};
    const t = token();
    if (t) headers["Authorization"] = "Bearer " + t;
    const init = { method, headers, cache: "no-store" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let r;
    try {
      r = await fetch(path, init);
    } catch (e) {
      throw new ApiError(0, "the API is not reachable (" + e.message + ")");
    }
    let data = null;
    const text = await r.text();
    try {
      data = text ? JSON.parse(text) : null;
    } catch (e) {
      data = null;
    }
    if (!r.ok) {
      let msg = data && data.error && data.error.message ? data.error.message : text.trim();
      if (r.status === 401 && !t) msg += " (enter a token above)";
      throw new ApiError(r.status, r.status + ": " + (msg || r.statusText));
    }
    return data;
  }

  // ---- small helpers ----

  function ago(ms) {
    if (!ms) return "";
    let s = Math.max(0, Math.round((Date.now() - ms) / 1000));
    if (s < 120) return s + "s ago";
    if (s < 7200) return Math.round(s / 60) + "m ago";
    if (s < 172800) return Math.floor(s / 3600) + "h" + Math.floor((s % 3600) / 60) + "m ago";
    return Math.floor(s / 86400) + "d ago";
  }
  function inFuture(ms) {
    const s = Math.max(0, Math.round((ms - Date.now()) / 1000));
    if (s < 120) return s + "s";
    if (s < 7200) return Math.round(s / 60) + "m";
    return Math.floor(s / 3600) + "h" + Math.floor((s % 3600) / 60) + "m";
  }
  function iso(ms) {
    return ms ? new Date(ms).toISOString().replace(".000Z", "Z") : "";
  }
  function splitSet(key) {
    const i = key.lastIndexOf("/");
    return { name: key.slice(0, i), type: key.slice(i + 1) };
  }
  const TIER_WORDS = ["", "primary", "secondary", "tertiary"];
  function tierText(n) {
    if (!n) return "none";
    return n + (TIER_WORDS[n] ? " (" + TIER_WORDS[n] + ")" : "");
  }

  function showMessage(kind, text) {
    const m = $("#message");
    m.className = kind;
    m.textContent = text;
    m.hidden = false;
  }

  // Runs a write from a button: the API's error text is shown as it is (a read-only token's
  // 403 says which token and which request); a success refreshes at once.
  async function act(button, what, fn) {
    if (button) button.disabled = true;
    showMessage("info", what + "…");
    try {
      const r = await fn();
      showMessage("success", what + ": done" + (r ? "" : ""));
      await refresh();
    } catch (e) {
      let text = what + " failed: " + e.message;
      if (e.status === 403 && state.whoami && !state.whoami.can_write) {
        text += "\nThis token is read-only; use a read-write token for actions.";
      }
      showMessage("error", text);
    } finally {
      if (button) button.disabled = false;
    }
  }

  function requireFields(fields) {
    let ok = true;
    for (const [input, valid] of fields) {
      const good = valid(input.value.trim());
      input.classList.toggle("invalid", !good);
      ok = ok && good;
    }
    return ok;
  }

  // ---- state ----

  const state = {
    whoami: null,
    status: null,
    members: {}, // set key -> explain members [{set_id, tier, healthy, ...}]
    cards: {}, // set key -> card element
  };

  // ---- health checks ----

  // An inline SVG of the recent probes' total times; failed probes are red dots.
  function sparkline(recent) {
    const pts = (recent || []).filter((o) => o.timings && o.timings.total_ms != null || !o.ok);
    const W = 140, H = 28, P = 3;
    const svgNS = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(svgNS, "svg");
    svg.setAttribute("class", "spark");
    svg.setAttribute("width", W);
    svg.setAttribute("height", H);
    svg.setAttribute("viewBox", "0 0 " + W + " " + H);
    if (pts.length === 0) return svg;
    const vals = pts.map((o) => (o.timings && o.timings.total_ms != null ? o.timings.total_ms : 0));
    const max = Math.max(1, ...vals);
    const x = (i) => (pts.length === 1 ? W / 2 : P + (i * (W - 2 * P)) / (pts.length - 1));
    const y = (v) => H - P - (v / max) * (H - 2 * P);
    const line = document.createElementNS(svgNS, "polyline");
    line.setAttribute("points", vals.map((v, i) => x(i).toFixed(1) + "," + y(v).toFixed(1)).join(" "));
    svg.append(line);
    pts.forEach((o, i) => {
      if (o.ok && i !== pts.length - 1) return;
      const c = document.createElementNS(svgNS, "circle");
      c.setAttribute("cx", x(i).toFixed(1));
      c.setAttribute("cy", y(vals[i]).toFixed(1));
      c.setAttribute("r", o.ok ? 2 : 2.5);
      c.setAttribute("class", o.ok ? "last" : "fail");
      svg.append(c);
    });
    const title = document.createElementNS(svgNS, "title");
    title.textContent = pts
      .map((o) => iso(o.time_ms) + " " + (o.ok ? "ok" : "FAIL") + " " + (vals[pts.indexOf(o)] || 0).toFixed(1) + " ms")
      .join("\n");
    svg.append(title);
    return svg;
  }

  function renderChecks(report) {
    const body = $("#checks tbody");
    const rows = [];
    for (const c of report.checks || []) {
      const recent = c.recent || [];
      const last = recent.length ? recent[recent.length - 1] : null;
      const lastMs = last && last.timings && last.timings.total_ms != null
        ? last.timings.total_ms.toFixed(1) + " ms" : "";
      const reason = c.status === "healthy"
        ? (last && last.reason) || ""
        : c.last_failure_reason || (last && last.reason) || "";
      const spark = el("td", { class: "spark-cell" }, sparkline(recent),
        el("span", { class: "spark-label", text: lastMs }));
      rows.push(el("tr", { "data-check": c.id },
        el("td", { class: "id", text: c.id }),
        el("td", { class: "kind", text: c.kind + (c.source && c.source !== "probe" ? " / " + c.source : "") }),
        el("td", { class: "status status-" + c.status, text: c.status }),
        el("td", { class: "since", title: iso(c.since_ms), text: ago(c.since_ms) }),
        el("td", { class: "reason", text: reason }),
        spark));
    }
    body.replaceChildren(...rows);
    if (!rows.length) body.append(el("tr", {}, el("td", { colspan: "6", class: "muted", text: "no health checks" })));
  }

  // ---- steered sets ----

  function overrideText(o) {
    let s = o.scope + " " + o.target + " forced " + o.action;
    if (o.drain_ms) s += " over " + Math.round(o.drain_ms / 1000) + "s";
    return s + " by " + o.author + " (" + o.reason + "), expires in " + inFuture(o.expires_wall_ms);
  }

  function clearButton(o) {
    const b = el("button", { type: "button", class: "clear-override", text: "Clear" });
    b.addEventListener("click", () =>
      act(b, "clear override on " + o.target, () =>
        api("DELETE", "/v1/overrides", { scope: o.scope === "record_set" ? "set" : o.scope, target: o.target })));
    return b;
  }

  function makeCard(key) {
    const card = $("#set-template").content.firstElementChild.cloneNode(true);
    card.dataset.set = key;
    $(".set-name", card).textContent = key;
    const approve = $(".approve", card);
    approve.addEventListener("click", () =>
      act(approve, "approve failback of " + key, () => api("POST", "/v1/failback/approve", { set: key })));
    const failback = $(".failback-btn", card);
    failback.addEventListener("click", () => act(failback, "fail back " + key, () => failBack(key)));
    const form = $(".failover-form", card);
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const tier = $(".to-tier", form);
      const expires = $(".expires", form);
      const reason = $(".reason-input", form);
      if (!requireFields([[tier, (v) => v !== ""], [expires, (v) => DURATION.test(v)], [reason, (v) => v.length > 0]])) {
        showMessage("error", "fail over " + key + ": choose a tier, give an expiry (e.g. 30m, 1h) and a reason");
        return;
      }
      act($(".failover", form), "fail over " + key + " to tier " + tier.value, () =>
        failOver(key, Number(tier.value), expires.value.trim(), reason.value.trim()));
    });
    return card;
  }

  // Like `steerdns failover SET --to TIER`: every member of an earlier tier is forced down
  // with a member override (with the expiry and reason), so the orchestrator fails over as for
  // a real outage. A half-done failover is undone.
  async function failOver(key, toTier, expires, reason) {
    const ex = await api("GET", "/v1/explain?name=" + encodeURIComponent(splitSet(key).name) +
      "&type=" + encodeURIComponent(splitSet(key).type));
    const down = (ex.members || []).filter((m) => m.tier < toTier).map((m) => key + "#" + m.set_id);
    if (!down.length) throw new ApiError(0, "nothing comes before tier " + toTier);
    const done = [];
    try {
      for (const target of down) {
        await api("POST", "/v1/overrides", { scope: "member", target, action: "down", expires, reason });
        done.push(target);
      }
    } catch (e) {
      for (const target of done) {
        try { await api("DELETE", "/v1/overrides", { scope: "member", target }); } catch (ignored) { /* best effort */ }
      }
      throw e;
    }
    return done;
  }

  // Like `steerdns failback SET`: clears the set's own overrides, then approves a waiting
  // manual failback.
  async function failBack(key) {
    const st = await api("GET", "/v1/status");
    const s = (st.sets || []).find((x) => x.set === key);
    if (!s) throw new ApiError(404, "no steered set " + key);
    let did = 0;
    for (const o of s.overrides || []) {
      if (o.scope === "check") continue; // reaches other sets too: clear it in the overrides panel
      await api("DELETE", "/v1/overrides", { scope: o.scope === "record_set" ? "set" : o.scope, target: o.target });
      did++;
    }
    const now = await api("GET", "/v1/status");
    const s2 = (now.sets || []).find((x) => x.set === key);
    if (s2 && s2.awaiting_approval) {
      await api("POST", "/v1/failback/approve", { set: key });
      did++;
    }
    if (!did) throw new ApiError(0, "nothing to fail back (no overrides of its own, no approval waiting)");
    return did;
  }

  async function loadMembers(key) {
    if (state.members[key]) return state.members[key];
    const p = splitSet(key);
    const ex = await api("GET", "/v1/explain?name=" + encodeURIComponent(p.name) + "&type=" + encodeURIComponent(p.type));
    state.members[key] = ex.members || [];
    return state.members[key];
  }

  function fillTiers(card, key, members) {
    const sel = $(".to-tier", card);
    if (sel.options.length) return;
    const tiers = [...new Set(members.map((m) => m.tier))].sort((a, b) => a - b).filter((t) => t > 1);
    sel.append(el("option", { value: "", text: "tier…" }));
    for (const t of tiers) {
      const ids = members.filter((m) => m.tier === t).map((m) => m.set_id).join(", ");
      sel.append(el("option", { value: String(t), text: tierText(t) + ": " + ids }));
    }
  }

  async function renderSets(status) {
    const box = $("#sets");
    const sets = status.sets || [];
    if (!sets.length) {
      box.replaceChildren(el("p", { class: "muted", text: "no failover record sets (" + (status.steered_sets || 0) + " steered sets)" }));
      state.cards = {};
      return;
    }
    const keep = {};
    const order = [];
    for (const s of sets) {
      const card = state.cards[s.set] || makeCard(s.set);
      keep[s.set] = card;
      order.push(card);
      $(".phase", card).textContent = s.phase;
      $(".tier", card).textContent = tierText(s.active_tier);
      $(".healthy-tier", card).textContent = tierText(s.healthy_tier);
      $(".failback", card).textContent = s.failback || "";
      $(".ttl", card).textContent = s.ttl + "s" + (s.set_ttl && s.ttl !== s.set_ttl ? " (lowered from " + s.set_ttl + "s)" : "");
      $(".since", card).textContent = ago(s.since_wall_ms);
      $(".since", card).title = iso(s.since_wall_ms);
      $(".reason", card).textContent = s.reason || "";
      const flags = [];
      if (s.awaiting_approval) flags.push(el("span", { class: "awaiting-flag", text: "awaiting approval" }));
      if (s.frozen) flags.push(el("span", { class: "frozen-flag", text: "frozen (flapping)" }));
      if (s.ramp_share && s.ramp_share < 1) flags.push(el("span", { text: "ramping " + Math.round(s.ramp_share * 100) + "%" }));
      $(".flags", card).replaceChildren(...flags);
      $(".set-overrides", card).replaceChildren(...(s.overrides || []).map((o) =>
        el("li", {}, overrideText(o) + " ", clearButton(o))));
      card.classList.toggle("failed-over", s.active_tier > 1);
      card.classList.toggle("awaiting", !!s.awaiting_approval);
      $(".approve", card).disabled = !s.awaiting_approval;
      $(".approve", card).title = s.awaiting_approval ? "" : "no failback is waiting for approval";
      $(".failback-btn", card).disabled = !s.awaiting_approval && !(s.overrides || []).some((o) => o.scope !== "check");
      loadMembers(s.set).then((m) => fillTiers(card, s.set, m)).catch(() => {});
      const p = splitSet(s.set);
      api("GET", "/v1/answer?name=" + encodeURIComponent(p.name) + "&type=" + encodeURIComponent(p.type))
        .then((a) => {
          const vals = (a.answers || []).filter((x) => x.type === p.type).map((x) => x.data);
          $(".answer", card).textContent = vals.length ? vals.join(", ") : a.rcode + " (no " + p.type + " data)";
        })
        .catch((e) => { $(".answer", card).textContent = "? " + e.message; });
    }
    state.cards = keep;
    // Only move cards when the set list changed, so a form being typed into keeps its focus.
    const same = box.children.length === order.length && order.every((c, i) => box.children[i] === c);
    if (!same) box.replaceChildren(...order);
  }

  // ---- overrides ----

  function renderOverrides(status) {
    const list = $("#overrides");
    const all = status.overrides || [];
    list.replaceChildren(...all.map((o) => el("li", {}, overrideText(o) + " ", clearButton(o))));
    if (!all.length) list.append(el("li", { class: "muted", text: "no overrides" }));
  }

  function fillTargets(status, report) {
    const dl = $("#ov-targets");
    const opts = [];
    for (const s of status.sets || []) {
      opts.push(s.set);
      for (const m of state.members[s.set] || []) opts.push(s.set + "#" + m.set_id);
    }
    for (const c of (report && report.checks) || []) opts.push(c.id);
    const want = opts.join("\n");
    if (dl.dataset.v === want) return;
    dl.dataset.v = want;
    dl.replaceChildren(...opts.map((v) => el("option", { value: v })));
  }

  $("#override-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const target = $("#ov-target"), expires = $("#ov-expires"), reason = $("#ov-reason"), drain = $("#ov-drain");
    const action = $("#ov-action").value;
    const ok = requireFields([
      [target, (v) => v.length > 0],
      [expires, (v) => DURATION.test(v)],
      [reason, (v) => v.length > 0],
      [drain, (v) => (action === "drain" ? DURATION.test(v) : v === "" || DURATION.test(v))],
    ]);
    if (!ok) {
      showMessage("error", "override: give a target, an expiry (e.g. 30m, 1h), a reason" +
        (action === "drain" ? " and a drain duration" : ""));
      return;
    }
    const body = { scope: $("#ov-scope").value, target: target.value.trim(), action,
      expires: expires.value.trim(), reason: reason.value.trim() };
    if (action === "drain") body.drain = drain.value.trim();
    act($("#ov-set"), "set override on " + body.target, () => api("POST", "/v1/overrides", body));
  });

  // ---- events ----

  function renderEvents(ev) {
    const list = $("#events");
    const events = (ev.events || []).slice().reverse();
    list.replaceChildren(...events.map((e) => {
      const tiers = e.from_tier || e.to_tier ? " tier " + e.from_tier + " → " + e.to_tier : "";
      return el("li", { "data-type": e.type },
        el("time", { datetime: iso(e.wall_ms), title: ago(e.wall_ms), text: iso(e.wall_ms) }),
        el("span", { class: "etype", text: e.type }),
        el("span", { class: "etarget", text: (e.target || "") + tiers }),
        el("span", { class: "muted", text: (e.cause ? " — " + e.cause : "") + (e.actor ? " (by " + e.actor + ")" : "") }));
    }));
    if (!events.length) list.append(el("li", { class: "muted", text: "no events yet" }));
  }

  // ---- SLOs and alerts (optional API parts: "not available" when absent) ----

  function notAvailable(box, e) {
    // 404: a daemon without this API; 503: the API is there but the service is not running.
    const text = e.status === 404 ? "not available" : e.status === 503 ? "not available (" + e.message + ")" : e.message;
    box.replaceChildren(el("p", { class: "muted", text }));
  }

  function renderSlo(slo) {
    const box = $("#slo");
    const names = slo.names || [];
    if (!names.length) {
      box.replaceChildren(el("p", { class: "muted", text: "no SLOs configured" }));
      return;
    }
    const head = el("tr", {}, ...["Name", "Objective", "Now", "1h", "1d", "30d"].map((h) => el("th", { text: h })));
    const rows = names.map((n) => {
      const w = (k) => {
        const x = (n.windows || {})[k];
        if (!x) return el("td", { text: "" });
        const left = Math.max(0, Math.min(1, x.budget_left == null ? 0 : x.budget_left));
        const bar = el("span", { class: "bar-wrap" }, el("span", { class: "bar" }));
        bar.firstChild.style.width = Math.round(left * 100) + "%";
        const budget = x.budget_left == null ? "" : "budget left " + Math.round(x.budget_left * 100) + "%";
        return el("td", { title: budget }, bar,
          x.availability == null ? "" : (x.availability * 100).toFixed(3) + "%");
      };
      return el("tr", { "data-slo": n.name }, el("td", { text: n.name }),
        // The objective is a percentage (99.9); availabilities and budgets are fractions.
        el("td", { text: n.objective == null ? "" : (n.objective > 1 ? n.objective : n.objective * 100) + "%" }),
        el("td", { class: n.healthy ? "ok" : "bad", text: n.healthy ? "healthy" : "unhealthy" }),
        w("1h"), w("1d"), w("30d"));
    });
    box.replaceChildren(el("table", {}, el("thead", {}, head), el("tbody", {}, ...rows)));
  }

  function renderAlerts(a) {
    const box = $("#alerts");
    const open = (a.alerts || []).filter((x) => x.state !== "resolved");
    if (!open.length) {
      box.replaceChildren(el("p", { class: "muted", text: "no open alerts" }));
      return;
    }
    const items = open.map((x) => {
      const reason = el("input", { size: "18", placeholder: "ack reason", class: "ack-reason" });
      const b = el("button", { type: "button", class: "ack", text: "Ack" });
      b.addEventListener("click", () => {
        if (!requireFields([[reason, (v) => v.length > 0]])) {
          showMessage("error", "acknowledge " + x.id + ": give a reason");
          return;
        }
        act(b, "acknowledge alert " + x.id, () =>
          api("POST", "/v1/alerts/" + encodeURIComponent(x.id) + "/ack", { reason: reason.value.trim() }));
      });
      const li = el("li", { "data-alert": x.id },
        el("span", { class: "sev-" + x.severity, text: x.severity + " " }),
        el("span", { text: x.event + " " + (x.target || "") + ": " + (x.summary || "") + " " }),
        el("span", { class: "muted", text: "(" + x.state + ", opened " + ago(x.opened_ms) + (x.acked_by ? ", acked by " + x.acked_by : "") + ") " }));
      if (!x.acked_by) li.append(reason, b);
      return li;
    });
    // Keep a reason being typed: rebuild only when the list of alerts changed.
    const sig = open.map((x) => x.id + ":" + x.state + ":" + (x.acked_by || "")).join(",");
    if (box.dataset.sig === sig) return;
    box.dataset.sig = sig;
    box.replaceChildren(el("ul", {}, ...items));
  }

  // ---- polling ----

  let busy = false;
  async function refresh() {
    if (busy) return;
    busy = true;
    try {
      if (!state.whoami) {
        state.whoami = await api("GET", "/dashboard/whoami");
        const w = state.whoami;
        $("#whoami").textContent = "token: " + w.principal + (w.can_write ? " (read-write)" : " (read-only: actions will be refused)");
        document.body.classList.toggle("read-only", !w.can_write);
      }
      const [status, report, events] = await Promise.all([
        api("GET", "/v1/status"),
        api("GET", "/v1/health/checks"),
        api("GET", "/v1/events?last=50"),
      ]);
      state.status = status;
      renderChecks(report);
      await renderSets(status);
      renderOverrides(status);
      fillTargets(status, report);
      renderEvents(events);
      await Promise.all([
        api("GET", "/v1/slo").then(renderSlo, (e) => notAvailable($("#slo"), e)),
        api("GET", "/v1/alerts").then(renderAlerts, (e) => { $("#alerts").dataset.sig = ""; notAvailable($("#alerts"), e); }),
      ]);
      $("#conn").textContent = "updated " + new Date().toLocaleTimeString();
      $("#conn").className = "muted";
    } catch (e) {
      if (e.status === 401) state.whoami = null;
      $("#conn").textContent = e.message;
      $("#conn").className = "bad";
      if (e.status === 401 || e.status === 403) $("#whoami").textContent = "not connected";
    } finally {
      busy = false;
    }
  }

  $("#token").value = token();
  $("#token-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const t = $("#token").value.trim();
    if (t) sessionStorage.setItem(TOKEN_KEY, t);
    else sessionStorage.removeItem(TOKEN_KEY);
    state.whoami = null;
    state.members = {};
    $("#message").hidden = true;
    refresh();
  });
  $("#token-clear").addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN_KEY);
    $("#token").value = "";
    state.whoami = null;
    refresh();
  });

  refresh();
  setInterval(refresh, POLL_MS);
})();
