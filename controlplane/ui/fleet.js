// The live fleet page: polls the control plane's JSON (/fleet/status and
// /fleet/writes) a few times a second and redraws the tables, so a NACK or
// a new version shows within a second. Plain DOM, no framework, no build.
"use strict";

const POLL_MS = 250;
const TOKEN_KEY = "nginx-xds-admin-token";

// The admin token, when the control plane wants one (kept for this tab only).
function authHeaders() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  return token ? { Authorization: "Bearer " + token } : {};
}

async function getJson(path) {
  const response = await fetch(path, { headers: authHeaders(), cache: "no-store" });
  if (response.status === 401) throw Object.assign(new Error("unauthorized"), { unauthorized: true });
  if (!response.ok) throw new Error(path + ": " + response.status + " " + (await response.text()));
  return response.json();
}

// A table row of text cells; `cells` are [text, className] or text.
function row(cells, attributes) {
  const tr = document.createElement("tr");
  for (const [name, value] of Object.entries(attributes || {})) tr.setAttribute(name, value);
  for (const cell of cells) {
    const td = document.createElement("td");
    const [text, className] = Array.isArray(cell) ? cell : [cell, ""];
    td.textContent = text === undefined || text === null ? "" : String(text);
    if (className) td.className = className;
    tr.appendChild(td);
  }
  return tr;
}

function fill(id, rows, columns, emptyText) {
  const body = document.querySelector("#" + id + " tbody");
  body.replaceChildren(...rows);
  if (rows.length === 0) {
    const tr = row([emptyText]);
    tr.className = "empty";
    tr.firstChild.colSpan = columns;
    body.appendChild(tr);
  }
}

function time(text) {
  const date = new Date(text);
  return isNaN(date) ? text : date.toLocaleTimeString();
}

function render(status, writes) {
  const versions = new Map(status.fleets.map((fleet) => [fleet.name, fleet.version]));

  fill("fleets", status.fleets.map((fleet) => {
    const nodes = status.nodes.filter((node) => node.fleet === fleet.name);
    const connected = nodes.filter((node) => node.connected);
    const current = connected.filter((node) => node.acked_version >= fleet.version);
    // Rejecting now: some upstreams alone, or a version newer than it runs.
    const rejecting = nodes.filter((node) => node.rejected_upstreams.length > 0 ||
        (node.last_nack && node.last_nack.version > node.acked_version));
    return row([fleet.name, [fleet.version, "num"], [nodes.length, "num"], [connected.length, "num"],
                [current.length + " / " + connected.length, current.length === connected.length ? "ok" : "bad"],
                [rejecting.length, rejecting.length ? "bad" : ""]],
               { "data-fleet": fleet.name });
  }), 6, "no fleet yet");

  fill("nodes", status.nodes.map((node) => {
    const lag = Math.max(0, (versions.get(node.fleet) || 0) - node.acked_version);
    let nack = "";
    if (node.last_nack) {
      nack = "version " + node.last_nack.version + ": " + node.last_nack.message +
             " (" + time(node.last_nack.time) + ")";
    }
    const tr = row([node.id, node.fleet, node.connected ? "yes" : "no", [node.acked_version, "num"],
                    [lag, "num lag"], [nack, "nack"], node.user_agent],
                   { "data-node": node.id });
    if (!node.connected) tr.classList.add("disconnected");
    if (lag > 0) tr.classList.add("lagging");
    return tr;
  }), 7, "no node has connected");

  fill("rollouts", status.rollouts.map((rollout) => {
    const canaries = rollout.canary_node_ids.length ? rollout.canary_node_ids.join(", ")
        : Object.entries(rollout.canary_labels).map(([k, v]) => k + "=" + v).join(", ");
    const halt = rollout.halt ? rollout.halt.node + ": " + rollout.halt.message : "";
    return row([rollout.fleet, [rollout.state, rollout.state === "halted" ? "bad" : ""],
                [rollout.stable_version, "num"], [rollout.canary_version, "num"], canaries,
                [rollout.canary_acked + " / " + rollout.canary_connected, "num"], [halt, "nack"]],
               { "data-rollout": rollout.fleet });
  }), 7, "no rollout");

  fill("writes", writes.writes.map((write) => row([
    time(write.time), write.fleet, write.operation, [write.version, "num"],
    [write.acked + " / " + write.connected, "num"],
    [write.result + (write.rejected_by.length ? " by " + write.rejected_by.join(", ") : ""),
     write.result === "ok" ? "ok" : "bad"],
    [(write.took_seconds * 1000).toFixed(1) + " ms", "num"]])), 7, "no write since the control plane started");
}

function setState(state, text) {
  const element = document.getElementById("state");
  element.dataset.state = state;
  element.textContent = text;
}

async function poll() {
  try {
    const [status, writes] = await Promise.all([getJson("/fleet/status?format=json"),
                                                getJson("/fleet/writes")]);
    render(status, writes);
    document.getElementById("login").hidden = true;
    setState("live", "live");
    document.getElementById("updated").textContent = "updated " + new Date().toLocaleTimeString();
  } catch (error) {
    if (error.unauthorized) {
      document.getElementById("login").hidden = false;
      setState("error", "token needed");
    } else {
      setState("error", "control plane unreachable");
    }
  }
  setTimeout(poll, POLL_MS);
}

document.getElementById("login").addEventListener("submit", (event) => {
  event.preventDefault();
  sessionStorage.setItem(TOKEN_KEY, document.getElementById("token").value.trim());
});

poll();
