// The fleet's nginx.conf as shipped, with the real module and control plane.
// For each ConfigMap the overlays render (deploy/k8s), the image's own
// script (deploy/docker/nginx/nginx-xds-fleet) renders nginx.conf as it does
// in a pod; the file paths and ports are then moved into a temporary prefix
// (the only changes, listed in relocate()) and:
// - `nginx -t` passes with //nginx_module:ngx_http_xds_module.so;
// - nginx runs as a non-root user with it; the readiness check
//   (`nginx-xds-fleet ready`) fails while the status location already
//   answers 200 but the module has neither a connection nor a version, and
//   passes once the control plane, started with the Deployment's own flags,
//   is up (every flag the Deployment passes must be one the binary knows),
//   and the control plane's HTTP fleet status lists the pod by name;
//   it still passes after the control plane stops (a version is kept);
// - `nginx-xds-fleet drain` (preStop) stops nginx gracefully, and a new nginx
//   with the control plane still down is ready at once from the cache file
//   (the cache emptyDir).
//
// Usage: fleet_nginx_test.mjs --module=PATH --controlplane=PATH

import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import os from "node:os";
import { after, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { find, findKubectl, parseYamlDocs, readRunfile, render, runfiles, VARIANTS } from "./k8s.mjs";

const args = Object.fromEntries(process.argv.slice(2).map((arg) => {
  const m = /^--([a-z_]+)=(.*)$/.exec(arg);
  if (!m) throw new Error(`unexpected argument ${arg}`);
  return [m[1], path.resolve(runfiles, m[2])];
}));
assert.ok(args.module && args.controlplane, "usage: --module=PATH --controlplane=PATH");

const NGINX = "/usr/sbin/nginx";
const SCRIPT_SOURCE = path.join(runfiles, "deploy/docker/nginx/nginx-xds-fleet");
const POD_NAME = "nginx-xds-fleet-5d8f7c9b6-x7k2p";

// As root, nginx would switch its workers to "nobody"; a pod runs all of
// nginx as one non-root user: do the same.
const asRoot = process.getuid() === 0;
const RUN_AS = asRoot ? ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"] : [];

function runAsUser(command, options = {}) {
  const argv = [...RUN_AS, ...command];
  return spawnSync(argv[0], argv.slice(1), { encoding: "utf8", timeout: 30000, ...options });
}

function spawnAsUser(command, options = {}) {
  const argv = [...RUN_AS, ...command];
  return spawn(argv[0], argv.slice(1), { stdio: ["ignore", "pipe", "pipe"], ...options });
}

function chownTree(dir) {
  if (!asRoot) return;
  fs.chownSync(dir, 65534, 65534);
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) chownTree(full);
    else fs.chownSync(full, 65534, 65534);
  }
}

async function freePort() {
  const server = net.createServer();
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function until(what, fn, timeoutMs = 30000) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what} (last: ${last})`);
}

function collect(child) {
  let out = "";
  child.stdout.on("data", (d) => { out += d; });
  child.stderr.on("data", (d) => { out += d; });
  return () => out;
}

async function stop(child, signal) {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
  const exited = new Promise((resolve) => child.once("exit", (code) => resolve(code)));
  child.kill(signal);
  return exited;
}

// The ConfigMap templates the overlays ship (one test per distinct text).
function shippedTemplates() {
  const kubectl = findKubectl();
  const texts = new Map();
  if (kubectl?.usable) {
    for (const variant of VARIANTS) {
      for (const configMap of render(kubectl, variant).filter((o) => o.kind === "ConfigMap")) {
        const text = configMap.data?.["nginx.conf.template"];
        if (text) texts.set(text, [...(texts.get(text) ?? []), variant.name]);
      }
    }
  } else {
    texts.set(readRunfile("deploy/k8s/base/fleet/nginx.conf.template"), ["base/fleet/nginx.conf.template (no kubectl: not rendered)"]);
  }
  return [...texts].map(([text, sources]) => ({ text, source: sources.join(", ") }));
}

// The pod's paths and ports, moved under `dir`: the only edits of the
// rendered file. Afterwards no absolute path is left outside `dir` but
// read-only system files.
function relocate(conf, dir, ports) {
  const moves = [
    ["/usr/lib/nginx/modules/", `${dir}/modules/`],
    ["/run/nginx/", `${dir}/run/`],
    ["/var/lib/nginx/", `${dir}/lib/`],
    ["/var/cache/nginx-xds/", `${dir}/cache/`],
  ];
  let out = conf;
  for (const [from, to] of moves) out = out.split(from).join(to);
  out = out.replace(/^(\s*xds_server\s+)\S+;/m, `$1127.0.0.1:${ports.xds};`);
  out = out.replace(/^(\s*listen\s+)8080\b/m, `$1127.0.0.1:${ports.http}`);
  out = out.replace(/^(\s*listen\s+)8081\b/m, `$1127.0.0.1:${ports.status}`);
  // In a pod stdout is a pipe; here it is Bazel's log file, which the
  // non-root user may not open again by name.
  out = out.replace(/^(\s*access_log\s+)\/dev\/stdout;/m, `$1${dir}/access.log;`);
  const readOnly = new Set(["/etc/nginx/mime.types"]);
  for (const line of out.split("\n").map((l) => l.replace(/#.*$/, ""))) {
    const m = /^\s*(load_module|include|pid|access_log|error_log|xds_cache|\w+_temp_path)\s+(\/\S+?);/.exec(line);
    if (m) assert.ok(m[2].startsWith(`${dir}/`) || readOnly.has(m[2]), `${m[1]} ${m[2]} was not moved under the test's prefix`);
  }
  return out;
}

describe("the fleet's nginx.conf", () => {
  const templates = shippedTemplates();
  it("finds the ConfigMap's template", () => assert.ok(templates.length >= 1));
  for (const { text, source } of templates) {
    describe(`from ${source}`, () => {
      // Not under TEST_TMPDIR: the non-root user cannot reach into /root.
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "nginx-xds-fleet."));
      after(() => fs.rmSync(dir, { recursive: true, force: true }));
      fs.chmodSync(dir, 0o755);
      for (const sub of ["bin", "etc", "run", "lib", "cache", "modules", "cp"]) fs.mkdirSync(path.join(dir, sub));
      fs.copyFileSync(args.module, path.join(dir, "modules/ngx_http_xds_module.so"));
      const SCRIPT = path.join(dir, "bin/nginx-xds-fleet");
      fs.copyFileSync(SCRIPT_SOURCE, SCRIPT);
      fs.writeFileSync(path.join(dir, "etc/nginx.conf.template"), text);
      chownTree(dir);
      const conf = path.join(dir, "run/nginx.conf");
      const env = {
        ...process.env,
        NGINX_XDS_TEMPLATE: path.join(dir, "etc/nginx.conf.template"),
        NGINX_XDS_CONF: conf,
        NGINX_XDS_PID_FILE: path.join(dir, "run/nginx.pid"),
        NGINX_XDS_DRAIN_DELAY: "0",
        XDS_NODE_ID: POD_NAME,
        NGINX_WORKER_PROCESSES: "2",
      };
      let ports;

      it("is rendered by the image's script with the pod's name and CPU count, nginx's variables untouched", async () => {
        ports = { xds: await freePort(), http: await freePort(), status: await freePort() };
        env.NGINX_XDS_STATUS_URL = `http://127.0.0.1:${ports.status}/xds/status?format=json`;
        const out = runAsUser(["sh", SCRIPT, "render"], { env });
        assert.equal(out.status, 0, out.stderr);
        const rendered = fs.readFileSync(conf, "utf8");
        assert.match(rendered, new RegExp(`^\\s*xds_node_id\\s+${POD_NAME};`, "m"));
        assert.match(rendered, /^worker_processes 2;/m);
        assert.doesNotMatch(rendered, /\$\{/, "a variable was left");
        assert.match(rendered, /proxy_pass http:\/\/\$host;/, "nginx's $host was touched");

        const missing = runAsUser(["sh", SCRIPT, "render"], { env: { ...env, XDS_NODE_ID: "" } });
        assert.notEqual(missing.status, 0, "renders without a node id");
        assert.match(missing.stderr, /XDS_NODE_ID/);

        fs.writeFileSync(conf, relocate(rendered, dir, ports));
      });

      it("passes nginx -t with the module", () => {
        const out = runAsUser([NGINX, "-t", "-c", conf, "-e", "stderr"]);
        assert.equal(out.status, 0, out.stderr);
        assert.match(out.stderr, /test is successful/);
      });

      it("is ready only with a connection or a version, stays ready without the control plane, drains", async (t) => {
        const status = async () => {
          const response = await fetch(env.NGINX_XDS_STATUS_URL);
          assert.equal(response.status, 200);
          return response.json();
        };
        const ready = () => spawnSync("sh", [SCRIPT, "ready"], { env, encoding: "utf8", timeout: 10000 });

        let nginx = spawnAsUser([NGINX, "-c", conf, "-e", "stderr", "-g", "daemon off;"], { env });
        let nginxOutput = collect(nginx);
        let controlPlane;
        try {
          // The status location answers at once; readiness waits for the control plane.
          await until("the status location", () => status().then((s) => s.connected === false));
          assert.equal((await status()).version, null);
          const early = ready();
          assert.equal(early.status, 1, "ready with neither a connection nor a version");
          assert.match(early.stderr, /not ready/);
          assert.equal((await status()).node_id, POD_NAME);

          controlPlane = await startControlPlane(t, dir, ports);
          const controlPlaneOutput = collect(controlPlane);
          await until("readiness after the control plane started", () => ready().status === 0)
            .catch((e) => { throw new Error(`${e.message}\ncontrol plane:\n${controlPlaneOutput()}\nnginx:\n${nginxOutput()}`); });
          // the version may be applied a moment before the connection is reported
          const connected = await until("the module to report the connection", () => status().then((s) => s.connected && s));
          assert.equal(typeof connected.version, "string");
          await until("the cache file", () => fs.existsSync(path.join(dir, "cache/last-good.pb")));

          // The operators' view (deploy/README.md): the HTTP gateway's fleet
          // status names the pod, connected, in the ConfigMap's fleet.
          const httpPort = /^http_port=(\d+)$/m.exec(controlPlaneOutput())?.[1];
          assert.ok(httpPort, `the control plane serves no HTTP:\n${controlPlaneOutput()}`);
          const fleetStatus = await until("the pod in the fleet status", async () => {
            const body = await (await fetch(`http://127.0.0.1:${httpPort}/fleet/status?format=json`, {
              headers: { Authorization: `Bearer ${ADMIN_TOKEN}` },
            })).json();
            return body.nodes.find((n) => n.id === POD_NAME && n.connected) && body;
          });
          const node = fleetStatus.nodes.find((n) => n.id === POD_NAME);
          assert.equal(node.fleet, connected.fleet);

          // The control plane goes away: the pod keeps its version and stays ready.
          assert.equal(await stop(controlPlane, "SIGTERM"), 0, controlPlaneOutput());
          await until("the module to see the control plane gone", () => status().then((s) => s.connected === false));
          assert.equal((await status()).version, connected.version);
          assert.equal(ready().status, 0, "not ready after the control plane stopped");

          // preStop: graceful quit; the container's nginx ends.
          const exited = new Promise((resolve) => nginx.once("exit", (code) => resolve(code)));
          const drain = runAsUser(["sh", SCRIPT, "drain"], { env });
          assert.equal(drain.status, 0, drain.stderr);
          assert.equal(await exited, 0, nginxOutput());
          assert.ok(!fs.existsSync(env.NGINX_XDS_PID_FILE));
          assert.notEqual(ready().status, 0, "ready after the drain");

          // A new container in the same pod, the control plane still down:
          // ready from the cache.
          nginx = spawnAsUser([NGINX, "-c", conf, "-e", "stderr", "-g", "daemon off;"], { env });
          nginxOutput = collect(nginx);
          await until("readiness from the cache", () => ready().status === 0)
            .catch((e) => { throw new Error(`${e.message}\nnginx:\n${nginxOutput()}`); });
          const cached = await status();
          assert.equal(cached.connected, false);
          assert.equal(cached.version, connected.version);
        } finally {
          if (controlPlane) await stop(controlPlane, "SIGKILL");
          await stop(nginx, "SIGQUIT");
        }
      });
    });
  }
});

// The control plane with the rendered Deployment's flags, moved to loopback
// and the test's directory; its own --helpfull says which flags it knows.
// The admin APIs' bearer token (--admin_token_file, a Secret in the cluster).
const ADMIN_TOKEN = "fleet-test-token-0123456789abcdef";

// The prod overlay keeps the state in etcd: a real one-member etcd on
// loopback stands in for its StatefulSet (killed when the tests end).
const etcds = [];
after(() => { for (const etcd of etcds) etcd.kill("SIGKILL"); });

async function startEtcd(dir) {
  const client = await freePort();
  const peer = await freePort();
  const url = (port) => `http://127.0.0.1:${port}`;
  const etcd = spawn("etcd", [
    "--name=fleet-test", `--data-dir=${path.join(dir, "etcd")}`,
    `--listen-client-urls=${url(client)}`, `--advertise-client-urls=${url(client)}`,
    `--listen-peer-urls=${url(peer)}`, `--initial-advertise-peer-urls=${url(peer)}`,
    `--initial-cluster=fleet-test=${url(peer)}`,
  ], { stdio: ["ignore", "pipe", "pipe"] });
  etcds.push(etcd);
  const output = collect(etcd);
  await until("etcd's health", async () => (await fetch(`${url(client)}/health`)).ok)
    .catch((e) => { throw new Error(`${e.message}\netcd:\n${output()}`); });
  return url(client);
}

async function startControlPlane(t, dir, ports) {
  const kubectl = findKubectl();
  let deployment;
  if (kubectl?.usable) {
    deployment = find(render(kubectl, VARIANTS.find((v) => v.name === "prod")), "Deployment", "nginx-xds-controlplane");
  } else {
    t.diagnostic("kubectl unavailable: control plane flags of base/controlplane/deployment.yaml, not rendered");
    deployment = parseYamlDocs(readRunfile("deploy/k8s/base/controlplane/deployment.yaml"), "deployment.yaml")[0];
  }
  const flags = deployment.spec.template.spec.containers.find((c) => c.name === "controlplane").args;
  const help = spawnSync(args.controlplane, ["--helpfull"], { encoding: "utf8" });
  const known = new Set([...`${help.stdout}${help.stderr}`.matchAll(/^\s+--([a-z_]+) /gm)].map((m) => m[1]));
  assert.ok(known.has("xds_listen"), "cannot read the control plane's --helpfull");
  const argv = [];
  // The Deployment reads the admin token from a Secret; here, from a file.
  const tokenFile = path.join(dir, "cp/admin-token");
  fs.mkdirSync(path.dirname(tokenFile), { recursive: true });
  fs.writeFileSync(tokenFile, `${ADMIN_TOKEN}\n`, { mode: 0o600 });
  const etcd = flags.includes("--store=etcd") ? await startEtcd(dir) : null;
  for (const flag of flags) {
    const [, name, value] = /^--([a-z_]+)=(.*)$/.exec(flag);
    assert.ok(known.has(name), `the Deployment passes --${name}, which the control plane does not know`);
    const moved = {
      xds_listen: `127.0.0.1:${ports.xds}`,
      admin_listen: "127.0.0.1:0",
      http_listen: "127.0.0.1:0",
      data_dir: path.join(dir, "cp/data"),
      admin_token_file: tokenFile,
      etcd_endpoints: etcd,
    }[name] ?? value;
    argv.push(`--${name}=${moved}`);
  }
  return spawn(args.controlplane, argv, { stdio: ["ignore", "pipe", "pipe"] });
}
