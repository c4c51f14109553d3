// The image build files (deploy/docker), offline: no Docker engine runs
// here, so the images are not built. What is checked instead:
// - the build stage installs exactly the build packages of
//   tools/install_deps.sh (so the image builds as a developer's machine does)
//   and builds the two targets the other tests use;
// - each runtime stage installs the Debian package of every shared library
//   the built binary needs (ldd on the Bazel outputs, dpkg -S on this
//   bookworm machine);
// - the files it copies exist, and paths, user, ports and flags agree with
//   the Kubernetes manifests and the fleet script;
// - the fleet script passes shellcheck (where shellcheck is installed).
//
// Usage: images_test.mjs --module=PATH --controlplane=PATH

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import { parseYamlDocs, readRunfile, root, runfiles } from "./k8s.mjs";

const args = Object.fromEntries(process.argv.slice(2).map((arg) => {
  const [, name, value] = /^--([a-z_]+)=(.*)$/.exec(arg);
  return [name, path.resolve(runfiles, value)];
}));

// Packages of tools/install_deps.sh that the image build does not need.
const NOT_FOR_THE_IMAGE_BUILD = {
  "libgtest-dev": "unit tests",
  "libgmock-dev": "unit tests",
  "libbenchmark-dev": "benchmarks",
  "clang-14": "the fuzz targets (tests/fuzz)",
  "libclang-rt-14-dev": "the fuzz targets (tests/fuzz)",
  prometheus: "promtool and a real Prometheus for the metrics tests",
  chromium: "the live fleet page test (headless, over DevTools)",
  "etcd-server": "the etcd store tests (a real etcd)",
  "etcd-client": "the etcd store tests (etcdctl)",
  "libnginx-mod-http-echo": "test backends",
  curl: "tests and the demo",
  wrk: "benchmarks",
  jq: "the gRPC/HTTP parity test",
  iproute2: "network namespace tests",
  openssl: "tests",
  python3: "integration tests",
  "python3-grpcio": "integration tests",
  "python3-protobuf": "integration tests",
  "python3-pytest": "integration tests (they run under pytest)",
  "gettext-base": "tests of the fleet script (the nginx image installs it itself)",
};
// In every Debian image (Priority: required).
const IN_EVERY_IMAGE = new Set(["libc6", "libgcc-s1"]);

// Dockerfile -> [{name, from, instructions: [{op, text}]}], continuation lines joined.
function parseDockerfile(text) {
  const lines = [];
  let current = "";
  for (const raw of text.split("\n")) {
    if (/^\s*#/.test(raw) && !current) continue;
    const line = raw.replace(/\s+$/, "");
    if (line.endsWith("\\")) {
      current += line.slice(0, -1) + " ";
      continue;
    }
    current += line;
    if (current.trim()) lines.push(current.trim());
    current = "";
  }
  const stages = [];
  const globalArgs = {};
  for (const line of lines) {
    const [, op, rest] = /^(\S+)\s*(.*)$/.exec(line);
    if (op === "FROM") {
      const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(rest);
      stages.push({ name: m[2], from: m[1], instructions: [] });
    } else if (!stages.length) {
      if (op === "ARG") {
        const [name, value] = rest.split("=");
        globalArgs[name] = value;
      }
    } else {
      stages.at(-1).instructions.push({ op, text: rest });
    }
  }
  return { stages, globalArgs };
}

const dockerfile = parseDockerfile(readRunfile("deploy/docker/Dockerfile"));
const stage = (name) => {
  const found = dockerfile.stages.find((s) => s.name === name);
  assert.ok(found, `no stage ${name}`);
  return found;
};
const runs = (name) => stage(name).instructions.filter((i) => i.op === "RUN").map((i) => i.text).join(" && ");

function aptPackages(stageName) {
  const m = /apt-get install -y --no-install-recommends\s+((?:[a-z0-9][a-z0-9+.-]*\s*)+)/.exec(runs(stageName));
  assert.ok(m, `stage ${stageName} has no apt-get install`);
  return m[1].trim().split(/\s+/);
}

function installDepsPackages() {
  assert.ok(root, "NGINX_XDS_ROOT is not set");
  const text = fs.readFileSync(path.join(root, "tools/install_deps.sh"), "utf8");
  const m = /readonly PACKAGES=\(([\s\S]*?)\)/.exec(text);
  assert.ok(m, "no PACKAGES=(...) in tools/install_deps.sh");
  return m[1].replace(/#.*$/gm, "").trim().split(/\s+/);
}

// Debian packages of the shared libraries `file` loads.
function libraryPackages(file) {
  const ldd = spawnSync("ldd", [file], { encoding: "utf8" });
  assert.equal(ldd.status, 0, ldd.stderr);
  assert.doesNotMatch(ldd.stdout, /not found/, `${file} misses libraries here already`);
  const libraries = [...ldd.stdout.matchAll(/=>\s+(\/\S+)/g)].map((m) => {
    const real = fs.realpathSync(m[1]);
    // merged /usr: dpkg knows a file by the path its package ships
    const paths = [real, real.replace(/^\/usr\/lib\//, "/lib/"), real.replace(/^\/lib\//, "/usr/lib/"), m[1]];
    return { name: path.basename(m[1]), real, paths };
  });
  // One dpkg-query for all paths; it prints "package: path" for those it knows.
  const out = spawnSync("dpkg-query", ["-S", ...new Set(libraries.flatMap((l) => l.paths))], { encoding: "utf8" });
  const owners = new Map();
  for (const line of out.stdout.split("\n")) {
    const m = /^([^:\s]+)(?::\S+)?: (\/\S+)$/.exec(line);
    if (m) owners.set(m[2], m[1]);
  }
  const packages = new Map();
  for (const library of libraries) {
    const owner = library.paths.map((p) => owners.get(p)).find(Boolean);
    assert.ok(owner, `no Debian package ships ${library.real} (needed by ${path.basename(file)})`);
    packages.set(owner, [...(packages.get(owner) ?? []), library.name]);
  }
  return packages;
}

function baseManifest(rel) {
  return parseYamlDocs(readRunfile(`deploy/k8s/base/${rel}`), rel)[0];
}

describe("deploy/docker/Dockerfile", () => {
  it("has the stages build, controlplane and nginx, on Debian bookworm", () => {
    assert.deepEqual(dockerfile.stages.map((s) => s.name), ["build", "controlplane", "nginx"]);
    assert.match(dockerfile.globalArgs.DEBIAN_IMAGE, /^debian:bookworm(-slim)?(@sha256:[0-9a-f]{64})?$/);
    for (const s of dockerfile.stages) assert.equal(s.from, "${DEBIAN_IMAGE}", `stage ${s.name}`);
  });

  it("installs the build packages of tools/install_deps.sh, no more, no fewer", () => {
    const wanted = installDepsPackages().filter((p) => !(p in NOT_FOR_THE_IMAGE_BUILD));
    const build = aptPackages("build");
    const missing = wanted.filter((p) => !build.includes(p));
    const extra = build.filter((p) => !wanted.includes(p));
    assert.deepEqual(missing, [], "in install_deps.sh but not in the build stage (add it there, or to NOT_FOR_THE_IMAGE_BUILD here)");
    assert.deepEqual(extra, [], "in the build stage but not in install_deps.sh");
  });

  it("builds with Bazel the two targets the tests use, and copies out what the images take", () => {
    const build = runs("build");
    assert.match(build, /bazel --batch build -c opt\s+\/\/controlplane:nginx-xds-controlplane \/\/nginx_module:ngx_http_xds_module\.so/);
    const copiedOut = [...build.matchAll(/\$bin\/\S+\/([^"/]+)"/g)].map((m) => m[1]);
    assert.deepEqual(copiedOut.sort(), ["ngx_http_xds_module.so", "nginx-xds-controlplane"].sort());
    for (const name of ["controlplane", "nginx"]) {
      for (const copy of stage(name).instructions.filter((i) => i.op === "COPY" && i.text.startsWith("--from=build"))) {
        const source = copy.text.split(/\s+/)[1];
        assert.ok(source.startsWith("/out/"), copy.text);
        const file = path.basename(source);
        assert.ok(copiedOut.includes(file) || file === "nginx-dev.version", `${name}: ${copy.text} is not made by the build stage`);
      }
    }
  });

  it("copies files that exist, from the repository root", () => {
    for (const s of dockerfile.stages) {
      for (const copy of s.instructions.filter((i) => i.op === "COPY" && !i.text.startsWith("--from="))) {
        const [source] = copy.text.split(/\s+/);
        if (source === ".") continue;
        assert.ok(fs.existsSync(path.join(runfiles, source)), `stage ${s.name}: COPY ${source}: no such file`);
      }
    }
  });

  for (const [name, binary, also] of [
    ["controlplane", () => args.controlplane, []],
    ["nginx", () => args.module, ["nginx", "gettext-base", "curl"]],
  ]) {
    it(`${name}: installs the package of every shared library the binary loads`, () => {
      const installed = new Set([...aptPackages(name), ...IN_EVERY_IMAGE]);
      const needed = libraryPackages(binary());
      const missing = [...needed].filter(([pkg]) => !installed.has(pkg)).map(([pkg, libs]) => `${pkg} (${libs.join(", ")})`);
      assert.deepEqual(missing, []);
      for (const pkg of also) assert.ok(installed.has(pkg), `${name} installs ${pkg}`);
    });
  }

  it("runs both images as the manifests' non-root user", () => {
    for (const [name, file] of [["controlplane", "controlplane/deployment.yaml"], ["nginx", "fleet/deployment.yaml"]]) {
      const users = stage(name).instructions.filter((i) => i.op === "USER").map((i) => i.text);
      assert.ok(users.length, `stage ${name} sets no USER`);
      const security = baseManifest(file).spec.template.spec.securityContext;
      assert.equal(users.at(-1), `${security.runAsUser}:${security.runAsGroup}`, `stage ${name} USER vs ${file}`);
      assert.match(runs(name), new RegExp(`useradd --system --uid ${security.runAsUser} --gid ${security.runAsGroup}`));
    }
  });

  it("nginx: entrypoint, template path, writable directories and ports agree with the manifests", () => {
    const nginx = stage("nginx");
    const script = readRunfile("deploy/docker/nginx/nginx-xds-fleet");
    const deployment = baseManifest("fleet/deployment.yaml");
    const container = deployment.spec.template.spec.containers[0];
    const entrypoint = JSON.parse(nginx.instructions.find((i) => i.op === "ENTRYPOINT").text);
    assert.deepEqual(entrypoint, ["/usr/local/bin/nginx-xds-fleet"]);
    assert.deepEqual(JSON.parse(nginx.instructions.find((i) => i.op === "CMD").text), ["run"]);
    // the probes call the script by name: it is on the image's PATH
    assert.equal(container.readinessProbe.exec.command[0], path.basename(entrypoint[0]));
    const copies = Object.fromEntries(nginx.instructions.filter((i) => i.op === "COPY" && !i.text.startsWith("--from"))
      .map((i) => i.text.split(/\s+/)));
    assert.equal(copies["deploy/docker/nginx/nginx-xds-fleet"], entrypoint[0]);
    const template = /template=\$\{NGINX_XDS_TEMPLATE:-([^}]+)\}/.exec(script)[1];
    assert.equal(copies["deploy/k8s/base/fleet/nginx.conf.template"], template);
    const created = /install -d -o \d+ -g \d+ ([^&]+)/.exec(runs("nginx"))[1].trim().split(/\s+/);
    for (const mount of container.volumeMounts) {
      assert.ok(created.includes(mount.mountPath), `the image does not create ${mount.mountPath} for its user`);
    }
    const exposed = nginx.instructions.filter((i) => i.op === "EXPOSE").flatMap((i) => i.text.split(/\s+/).map(Number));
    assert.deepEqual(exposed, container.ports.map((p) => p.containerPort));
    assert.equal(nginx.instructions.find((i) => i.op === "STOPSIGNAL")?.text, "SIGQUIT");
    // the image checks at build time that its module loads into its nginx
    assert.match(runs("nginx"), /nginx -t /);
  });

  it("controlplane: entrypoint, default flags, store directory and ports agree with the manifests", () => {
    const cp = stage("controlplane");
    const container = baseManifest("controlplane/deployment.yaml").spec.template.spec.containers[0];
    const entrypoint = JSON.parse(cp.instructions.find((i) => i.op === "ENTRYPOINT").text);
    assert.deepEqual(entrypoint, ["/usr/local/bin/nginx-xds-controlplane"]);
    const defaults = JSON.parse(cp.instructions.find((i) => i.op === "CMD").text);
    for (const flag of defaults) assert.ok(container.args.includes(flag), `CMD ${flag} differs from the Deployment's args`);
    const dataDir = container.args.find((a) => a.startsWith("--data_dir=")).split("=")[1];
    assert.match(runs("controlplane"), new RegExp(`install -d -o \\d+ -g \\d+ -m 0700 ${dataDir}`));
    const exposed = cp.instructions.filter((i) => i.op === "EXPOSE").flatMap((i) => i.text.split(/\s+/).map(Number));
    assert.deepEqual(exposed, container.ports.map((p) => p.containerPort));
  });

  it("sends no build output or local state to the builder", () => {
    const ignored = readRunfile("deploy/docker/Dockerfile.dockerignore").split("\n").filter((l) => l && !l.startsWith("#"));
    for (const pattern of [".git", "bazel-*", "**/node_modules", "deploy/local/.state"]) {
      assert.ok(ignored.includes(pattern), `Dockerfile.dockerignore lacks ${pattern}`);
    }
  });
});

describe("deploy/docker/nginx/nginx-xds-fleet", () => {
  const shellcheck = spawnSync("shellcheck", ["--version"]).status === 0;
  it("passes shellcheck", { skip: shellcheck ? false : "shellcheck is not installed" }, () => {
    const out = spawnSync("shellcheck", ["--shell=sh", path.join(runfiles, "deploy/docker/nginx/nginx-xds-fleet")], { encoding: "utf8" });
    assert.equal(out.status, 0, out.stdout + out.stderr);
  });
});
