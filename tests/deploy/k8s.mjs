// Helpers of the deploy tests: the manifests' tree, rendering it with
// `kubectl kustomize`, schema checks with kubernetes-models, and small
// readers (labels, quantities, nginx.conf directives).

import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseAllDocuments, parseDocument } from "yaml";

// The workspace's runfiles (Bazel starts tests there) and the source tree.
export const runfiles = process.env.NGINX_XDS_RUNFILES ?? process.cwd();
export const root = process.env.NGINX_XDS_ROOT;

export function tmpdir(prefix) {
  return fs.mkdtempSync(path.join(process.env.TEST_TMPDIR ?? os.tmpdir(), prefix));
}

export function readRunfile(rel) {
  return fs.readFileSync(path.join(runfiles, rel), "utf8");
}

// A writable copy of deploy/k8s with every link resolved: runfiles are links
// into the source tree, and kustomize refuses a file that resolves outside
// its kustomization's directory.
export function copyManifests() {
  const dir = path.join(tmpdir("k8s."), "k8s");
  fs.cpSync(path.join(runfiles, "deploy/k8s"), dir, { recursive: true, dereference: true });
  return dir;
}

export function parseYamlDocs(text, source) {
  return parseAllDocuments(text).map((doc) => {
    if (doc.errors.length) throw new Error(`${source}: ${doc.errors.map(String).join("; ")}`);
    return doc.toJSON();
  }).filter((obj) => obj !== null);
}

// kubectl whose embedded kustomize is v4 or newer (components, patches with
// regular-expression targets), as {path, kustomize, usable}; null when there
// is none (or NGINX_XDS_KUBECTL=none, to try the tests without it).
export function findKubectl() {
  if (process.env.NGINX_XDS_KUBECTL === "none") return null;
  const dirs = (process.env.PATH ?? "").split(":").filter(Boolean).concat(["/usr/bin", "/usr/local/bin"]);
  for (const dir of dirs) {
    const candidate = path.join(dir, "kubectl");
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
    } catch {
      continue;
    }
    const out = spawnSync(candidate, ["version", "--client", "-o", "json"], { encoding: "utf8" });
    if (out.status !== 0) continue;
    let version;
    try {
      version = JSON.parse(out.stdout).kustomizeVersion ?? "";
    } catch {
      continue;
    }
    const major = Number((/^v(\d+)\./.exec(version) ?? [])[1]);
    return { path: candidate, kustomize: version, usable: major >= 4 };
  }
  return null;
}

// What tests/deploy renders: the base, each overlay, and each overlay with
// the DaemonSet component added the way deploy/README.md says (a
// `components:` entry in the overlay's kustomization.yaml).
export const VARIANTS = [
  { name: "base", dir: "base", namespace: null, daemonset: false },
  { name: "dev", dir: "overlays/dev", namespace: "nginx-xds-dev", daemonset: false },
  { name: "prod", dir: "overlays/prod", namespace: "nginx-xds", daemonset: false },
  { name: "dev+daemonset", dir: "overlays/dev", namespace: "nginx-xds-dev", daemonset: true },
  { name: "prod+daemonset", dir: "overlays/prod", namespace: "nginx-xds", daemonset: true },
];

export function addComponent(kustomizationDir, component) {
  const file = path.join(kustomizationDir, "kustomization.yaml");
  const doc = parseDocument(fs.readFileSync(file, "utf8"));
  const components = doc.get("components")?.toJSON() ?? [];
  components.push(component);
  doc.set("components", components);
  fs.writeFileSync(file, doc.toString());
}

// Renders one variant from a fresh copy of deploy/k8s; returns its objects.
export function render(kubectl, variant) {
  const tree = copyManifests();
  const dir = path.join(tree, variant.dir);
  if (variant.daemonset) addComponent(dir, "../../components/fleet-daemonset");
  const out = spawnSync(kubectl.path, ["kustomize", dir], { encoding: "utf8", maxBuffer: 64 << 20 });
  if (out.status !== 0) throw new Error(`kubectl kustomize ${variant.dir} failed:\n${out.stderr}`);
  fs.rmSync(path.dirname(tree), { recursive: true, force: true });
  return parseYamlDocs(out.stdout, `kustomize ${variant.name}`);
}

// ---- schema checks ----------------------------------------------------------

// kubernetes-models compiles the OpenAPI schema of every type into a
// validate function (its Model.validate() calls the same one). Those
// functions check types, formats, enums and required fields but accept any
// unknown field, which is the mistake a typo makes. So the object is handed
// to them behind a Proxy that records every property they read: a validator
// reads each property its schema knows (and every key of a map, such as
// labels), so a property it never read is one the schema does not know.
const validators = new Map();

export function schemaName(apiVersion, kind) {
  const [group, version] = apiVersion.includes("/") ? apiVersion.split("/") : ["core", apiVersion];
  const groupName = group.replace(/\.k8s\.io$/, "").split(".")
    .map((part) => part[0].toUpperCase() + part.slice(1)).join("");
  return `IoK8sApi${groupName}${version[0].toUpperCase()}${version.slice(1)}${kind}`;
}

export async function validatorFor(apiVersion, kind) {
  const name = schemaName(apiVersion, kind);
  if (!validators.has(name)) {
    const module = await import(`kubernetes-models/_schemas/${name}`);
    validators.set(name, module.validate);
  }
  return validators.get(name);
}

// Errors of `obj` against its kind's schema, unknown fields included, as
// "PATH: what" strings; [] when it is valid.
export async function schemaErrors(obj) {
  if (!obj || typeof obj.apiVersion !== "string" || typeof obj.kind !== "string") {
    return ["/: no apiVersion or kind"];
  }
  let validate;
  try {
    validate = await validatorFor(obj.apiVersion, obj.kind);
  } catch (e) {
    return [`/: no schema for ${obj.apiVersion} ${obj.kind} in kubernetes-models (${e.message})`];
  }
  const read = new WeakMap();
  const watch = (value) => {
    if (value === null || typeof value !== "object") return value;
    if (!read.has(value)) read.set(value, new Set());
    return new Proxy(value, {
      get(target, key, receiver) {
        if (typeof key === "string") read.get(target).add(key);
        return watch(Reflect.get(target, key, receiver));
      },
    });
  };
  const errors = [];
  if (!validate(watch(obj))) {
    for (const e of validate.errors) {
      errors.push(`${e.instancePath || "/"}: ${e.keyword} ${JSON.stringify(e.params)}`);
    }
  }
  const walk = (value, where) => {
    if (value === null || typeof value !== "object") return;
    if (Array.isArray(value)) {
      value.forEach((item, i) => walk(item, `${where}/${i}`));
      return;
    }
    const seen = read.get(value) ?? new Set();
    for (const key of Object.keys(value)) {
      if (seen.has(key)) walk(value[key], `${where}/${key}`);
      else errors.push(`${where}/${key}: unknown field`);
    }
  };
  walk(obj, "");
  return errors;
}

// The same validator without the Proxy: what kubernetes-models says alone.
export async function plainSchemaValid(obj) {
  const validate = await validatorFor(obj.apiVersion, obj.kind);
  return validate(obj);
}

// ---- readers ----------------------------------------------------------------

export function id(obj) {
  return `${obj.kind}/${obj.metadata?.name}`;
}

export function find(objects, kind, name) {
  return objects.find((o) => o.kind === kind && o.metadata?.name === name);
}

// Does a LabelSelector (or a Service's plain selector map) select `labels`?
export function selects(selector, labels) {
  if (!selector) return false;
  const matchLabels = selector.matchLabels ?? (selector.matchExpressions ? {} : selector);
  if (selector.matchExpressions?.length) {
    throw new Error("matchExpressions are not understood by this test; extend selects()");
  }
  const pairs = Object.entries(matchLabels);
  return pairs.length > 0 && pairs.every(([k, v]) => labels?.[k] === v);
}

export const WORKLOAD_KINDS = ["Deployment", "DaemonSet", "StatefulSet"];

export function workloads(objects) {
  return objects.filter((o) => WORKLOAD_KINDS.includes(o.kind));
}

const QUANTITY_SUFFIXES = {
  m: 1e-3, "": 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12,
  Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40,
};

export function quantity(value) {
  if (typeof value === "number") return value;
  const m = /^([0-9.]+)(m|k|M|G|T|Ki|Mi|Gi|Ti)?$/.exec(String(value));
  if (!m) throw new Error(`cannot read quantity "${value}"`);
  return Number(m[1]) * QUANTITY_SUFFIXES[m[2] ?? ""];
}

// nginx.conf's simple directives (name and arguments) in order, comments
// dropped; good enough for the flat files shipped here (no quotes with # or ;).
export function nginxDirectives(conf) {
  const text = conf.split("\n").map((line) => line.replace(/#.*$/, "")).join("\n");
  const out = [];
  for (const statement of text.split(/[;{}]/)) {
    const words = statement.trim().split(/\s+/).filter(Boolean);
    if (words.length) out.push({ name: words[0], args: words.slice(1) });
  }
  return out;
}

// Is `file` at or below `dir`?
export function under(file, dir) {
  const rel = path.posix.relative(dir, file);
  return rel === "" || (!rel.startsWith("..") && !path.posix.isAbsolute(rel));
}
