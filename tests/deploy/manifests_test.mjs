// The Kubernetes manifests (deploy/k8s), offline: every variant renders
// with `kubectl kustomize`, every object passes its kind's schema with no
// unknown field (kubernetes-models), and the objects fit together: names
// that refer to each other exist, Services and policies select the right
// pods, ports and paths agree with nginx.conf, the image's script and the
// control plane's flags, pods meet the restricted Pod Security Standard,
// and the DaemonSet variant's pods are the Deployment's.
//
// Without a kubectl whose kustomize is v4 or newer, the rendered checks are
// skipped (and say so); the per-file checks still run.
//
// Not checked here (needs a cluster): that an API server admits the objects
// (admission, defaults, quotas), that the network plugin enforces the
// NetworkPolicy, that a StorageClass binds the claim, that probes pass on a
// real pod.

import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import { parseDocument } from "yaml";
import {
  VARIANTS, copyManifests, find, findKubectl, id, nginxDirectives, parseYamlDocs,
  plainSchemaValid, quantity, readRunfile, render, schemaErrors, selects, under, workloads,
} from "./k8s.mjs";

const kubectl = findKubectl();
const canRender = kubectl?.usable === true;
const skipReason = kubectl
  ? `kubectl's kustomize ${kubectl.kustomize} is older than v4: overlays not rendered`
  : "kubectl not found: overlays not rendered (only each file on its own is checked)";

const rendered = new Map();
if (canRender) {
  for (const variant of VARIANTS) rendered.set(variant.name, render(kubectl, variant));
}

const CONTROLPLANE = "nginx-xds-controlplane";
const FLEET = "nginx-xds-fleet";
const FLEET_SCRIPT = readRunfile("deploy/docker/nginx/nginx-xds-fleet");

function podSpecs(objects) {
  return workloads(objects).map((w) => ({
    owner: id(w), labels: w.spec.template.metadata?.labels ?? {}, spec: w.spec.template.spec, claimTemplates: w.spec.volumeClaimTemplates,
  }));
}

function controlPlane(objects) {
  const deployment = find(objects, "Deployment", CONTROLPLANE);
  assert.ok(deployment, "no control plane Deployment");
  const container = deployment.spec.template.spec.containers.find((c) => c.name === "controlplane");
  assert.ok(container, "no container named controlplane");
  const flags = Object.fromEntries((container.args ?? []).map((arg) => {
    const m = /^--([a-z_]+)=(.*)$/.exec(arg);
    assert.ok(m, `control plane argument ${arg} is not --flag=value`);
    return [m[1], m[2]];
  }));
  const ports = Object.fromEntries((container.ports ?? []).map((p) => [p.name, p.containerPort]));
  return { deployment, container, flags, ports };
}

function fleetWorkload(objects) {
  const found = workloads(objects).filter((w) => w.metadata.name === FLEET);
  assert.equal(found.length, 1, `expected one fleet workload, found ${found.map(id).join(", ") || "none"}`);
  const workload = found[0];
  const container = workload.spec.template.spec.containers.find((c) => c.name === "nginx");
  assert.ok(container, "no container named nginx in the fleet");
  const ports = Object.fromEntries((container.ports ?? []).map((p) => [p.name, p.containerPort]));
  return { workload, container, ports };
}

function fleetConf(objects, workload) {
  const volume = workload.spec.template.spec.volumes.find((v) => v.configMap);
  assert.ok(volume, "the fleet mounts no ConfigMap");
  const configMap = find(objects, "ConfigMap", volume.configMap.name);
  assert.ok(configMap, `ConfigMap ${volume.configMap.name} (the fleet's volume ${volume.name}) is not rendered`);
  const text = configMap.data?.["nginx.conf.template"];
  assert.ok(text, `ConfigMap ${configMap.metadata.name} has no nginx.conf.template`);
  return { volume, configMap, text, directives: nginxDirectives(text) };
}

function portOf(hostPort) {
  const m = /:(\d+)$/.exec(hostPort);
  assert.ok(m, `${hostPort} has no port`);
  return Number(m[1]);
}

describe("the schema check", () => {
  it("reports unknown fields and wrong types that kubernetes-models alone accepts (fixture)", async (t) => {
    const objects = parseYamlDocs(readRunfile("tests/deploy/fixtures/unknown-fields.yaml"), "fixture");
    const reported = [];
    for (const obj of objects) {
      for (const error of await schemaErrors(obj)) reported.push(`${id(obj)} ${error}`);
    }
    const expected = [
      "Deployment/typo /spec/replicas: type",
      "Deployment/typo /spec/template/spec/securityContext/runAsNonroot: unknown field",
      "Deployment/typo /spec/template/spec/containers/0/readinessProbes: unknown field",
      "Service/typo /spec/selectors: unknown field",
      "NetworkPolicy/typo /spec/ingress/0/form: unknown field",
    ];
    for (const want of expected) {
      assert.ok(reported.some((r) => r.startsWith(want)), `not reported: ${want}\nreported:\n${reported.join("\n")}`);
    }
    const unexpected = reported.filter((r) => !expected.some((want) => r.startsWith(want)));
    assert.deepEqual(unexpected, [], "reported more than the fixture's mistakes");
    // Why the Proxy in schemaErrors: the generated validators pass objects
    // whose only mistakes are unknown fields.
    const service = objects.find((o) => o.kind === "Service");
    t.diagnostic(`kubernetes-models' validate alone accepts spec.selectors: ${await plainSchemaValid(service)}`);
    assert.equal(await plainSchemaValid(service), true,
      "kubernetes-models now rejects unknown fields itself; the Proxy in k8s.mjs may go");
  });
});

describe("each file on its own", () => {
  // Every kustomization's references exist; every resource file passes the
  // schema (before any overlay patches it); every patch names an existing
  // kind and a name the base defines.
  const tree = copyManifests();
  const kustomizations = [];
  const walk = (dir) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.name === "kustomization.yaml") kustomizations.push(full);
    }
  };
  walk(tree);

  // Kind/name of everything the base defines, for the patches' targets.
  const baseDir = path.join(tree, "base");
  const baseNames = new Set(["DaemonSet/nginx-xds-fleet"]); // components/fleet-daemonset adds it
  for (const resource of parseDocument(fs.readFileSync(path.join(baseDir, "kustomization.yaml"), "utf8")).toJSON().resources) {
    for (const obj of parseYamlDocs(fs.readFileSync(path.join(baseDir, resource), "utf8"), resource)) baseNames.add(id(obj));
  }

  it("finds the base, two overlays and the DaemonSet component", () => {
    const rel = kustomizations.map((k) => path.relative(tree, path.dirname(k))).sort();
    assert.deepEqual(rel, ["base", "components/fleet-daemonset", "overlays/dev", "overlays/prod"]);
  });

  for (const file of kustomizations) {
    const dir = path.dirname(file);
    const name = path.relative(tree, dir);
    const k = parseDocument(fs.readFileSync(file, "utf8")).toJSON();

    it(`${name}: every referenced file exists and every resource passes the schema`, async () => {
      const expectedKind = name.startsWith("components/") ? "Component" : "Kustomization";
      assert.equal(k.kind, expectedKind);
      for (const resource of k.resources ?? []) {
        const target = path.resolve(dir, resource);
        assert.ok(fs.existsSync(target), `${name}: resource ${resource} does not exist`);
        if (fs.statSync(target).isDirectory()) {
          assert.ok(fs.existsSync(path.join(target, "kustomization.yaml")), `${name}: ${resource} has no kustomization.yaml`);
          continue;
        }
        for (const obj of parseYamlDocs(fs.readFileSync(target, "utf8"), resource)) {
          assert.deepEqual(await schemaErrors(obj), [], `${name}/${resource} ${id(obj)}`);
        }
      }
      for (const component of k.components ?? []) {
        assert.ok(fs.existsSync(path.join(dir, component, "kustomization.yaml")), `${name}: component ${component}`);
      }
      for (const generator of k.configMapGenerator ?? []) {
        for (const entry of generator.files ?? []) {
          const file = entry.includes("=") ? entry.split("=")[1] : entry;
          assert.ok(fs.existsSync(path.join(dir, file)), `${name}: configMapGenerator file ${file}`);
        }
      }
    });

    it(`${name}: every patch parses and names something that exists`, () => {
      for (const patch of k.patches ?? []) {
        let docs;
        if (patch.path) {
          assert.ok(fs.existsSync(path.join(dir, patch.path)), `${name}: patch ${patch.path} does not exist`);
          docs = parseYamlDocs(fs.readFileSync(path.join(dir, patch.path), "utf8"), patch.path);
        } else {
          assert.ok(patch.patch, `${name}: a patch with neither path nor patch`);
          docs = parseYamlDocs(patch.patch, `${name} inline patch`);
        }
        const target = patch.target ?? { kind: docs[0].kind, name: docs[0].metadata?.name };
        assert.ok(target.kind && target.name, `${name}: patch ${patch.path ?? "(inline)"} names no kind and name`);
        const kinds = new RegExp(`^(?:${target.kind})$`);
        assert.ok([...baseNames].some((n) => kinds.test(n.split("/")[0]) && n.split("/")[1] === target.name),
          `${name}: patch ${patch.path ?? "(inline)"} targets ${target.kind}/${target.name}, which the base does not define`);
      }
    });
  }
});

if (!canRender) it("renders every variant", { skip: skipReason }, () => {});

describe("rendered variants", { skip: !canRender }, () => {
  for (const variant of VARIANTS) {
    describe(variant.name, () => {
      const objects = () => rendered.get(variant.name);

      it("renders, and every object passes its schema with no unknown field", async () => {
        assert.ok(objects().length > 0);
        const errors = [];
        for (const obj of objects()) {
          for (const error of await schemaErrors(obj)) errors.push(`${id(obj)} ${error}`);
        }
        assert.deepEqual(errors, []);
      });

      it("has each object once, in the overlay's namespace", () => {
        const ids = objects().map(id);
        assert.equal(new Set(ids).size, ids.length, `duplicates in ${ids.join(", ")}`);
        if (!variant.namespace) return;
        const namespace = find(objects(), "Namespace", variant.namespace);
        assert.ok(namespace, `no Namespace ${variant.namespace}`);
        assert.equal(namespace.metadata.labels?.["pod-security.kubernetes.io/enforce"], "restricted");
        for (const obj of objects()) {
          if (obj.kind === "Namespace") continue;
          assert.equal(obj.metadata.namespace, variant.namespace, `${id(obj)} namespace`);
        }
      });

      it("refers only to objects it contains", () => {
        for (const pod of podSpecs(objects())) {
          if (pod.spec.serviceAccountName) {
            assert.ok(find(objects(), "ServiceAccount", pod.spec.serviceAccountName), `${pod.owner}: ServiceAccount ${pod.spec.serviceAccountName}`);
          }
          for (const volume of pod.spec.volumes ?? []) {
            if (volume.configMap) assert.ok(find(objects(), "ConfigMap", volume.configMap.name), `${pod.owner}: ConfigMap ${volume.configMap.name}`);
            if (volume.persistentVolumeClaim) {
              assert.ok(find(objects(), "PersistentVolumeClaim", volume.persistentVolumeClaim.claimName), `${pod.owner}: PVC ${volume.persistentVolumeClaim.claimName}`);
            }
            // The admin token is the one Secret: operators create it (deploy/README.md).
            if (volume.secret && volume.secret.secretName !== "nginx-xds-admin-token") {
              assert.fail(`${pod.owner}: a Secret volume the manifests do not define`);
            }
          }
          for (const container of pod.spec.containers) {
            for (const mount of container.volumeMounts ?? []) {
              // a StatefulSet's claim templates are volumes of its pods too
              const claims = (pod.claimTemplates ?? []).map((c) => c.metadata.name);
              assert.ok((pod.spec.volumes ?? []).some((v) => v.name === mount.name) || claims.includes(mount.name),
                `${pod.owner}: mount of unknown volume ${mount.name}`);
            }
          }
        }
      });

      it("has Services and a PodDisruptionBudget that select pods with the named ports", () => {
        const pods = podSpecs(objects());
        for (const service of objects().filter((o) => o.kind === "Service")) {
          const selected = pods.filter((p) => selects(service.spec.selector, p.labels));
          assert.equal(selected.length, 1, `Service ${service.metadata.name} selects ${selected.length} workloads`);
          const names = selected[0].spec.containers.flatMap((c) => (c.ports ?? []).map((p) => p.name));
          for (const port of service.spec.ports) {
            assert.ok(typeof port.targetPort === "string" && names.includes(port.targetPort),
              `Service ${service.metadata.name} port ${port.name}: targetPort ${port.targetPort} is no named port of ${selected[0].owner}`);
          }
        }
        const pdb = find(objects(), "PodDisruptionBudget", FLEET);
        assert.ok(pdb, "no fleet PodDisruptionBudget");
        const selected = pods.filter((p) => selects(pdb.spec.selector, p.labels)).map((p) => p.owner);
        assert.deepEqual(selected, [id(fleetWorkload(objects()).workload)]);
      });

      if (!variant.name.startsWith("prod")) it("runs one control plane replica, Recreate, on its claim, with gRPC probes on the xDS port", () => {
        const cp = controlPlane(objects());
        assert.equal(cp.deployment.spec.replicas, 1);
        assert.equal(cp.deployment.spec.strategy?.type, "Recreate");
        assert.equal(portOf(cp.flags.xds_listen), cp.ports.xds, "--xds_listen vs port xds");
        assert.equal(portOf(cp.flags.admin_listen), cp.ports["admin-grpc"], "--admin_listen vs port admin-grpc");
        assert.equal(portOf(cp.flags.http_listen), cp.ports["admin-http"], "--http_listen vs port admin-http");
        for (const flag of ["xds_listen", "admin_listen", "http_listen"]) {
          assert.match(cp.flags[flag], /^(0\.0\.0\.0|\[::\]):/, `--${flag} listens on every address of the pod`);
        }
        const spec = cp.deployment.spec.template.spec;
        const dataMount = cp.container.volumeMounts.find((m) => m.mountPath === cp.flags.data_dir);
        assert.ok(dataMount, `--data_dir ${cp.flags.data_dir} is no mount`);
        const dataVolume = spec.volumes.find((v) => v.name === dataMount.name);
        assert.ok(dataVolume.persistentVolumeClaim, "--data_dir is not on the PersistentVolumeClaim");
        const claim = find(objects(), "PersistentVolumeClaim", dataVolume.persistentVolumeClaim.claimName);
        assert.deepEqual(claim.spec.accessModes, ["ReadWriteOnce"]);
        for (const probe of ["startupProbe", "readinessProbe", "livenessProbe"]) {
          assert.equal(cp.container[probe]?.grpc?.port, cp.ports.xds, `${probe} is gRPC health on the xDS port`);
        }
      });

      if (variant.name.startsWith("prod")) {
        it("runs three control plane replicas on the overlay's etcd, one per node, ready only while etcd answers", () => {
          const cp = controlPlane(objects());
          assert.equal(cp.deployment.spec.replicas, 3);
          assert.equal(cp.deployment.spec.strategy?.type, "RollingUpdate");
          assert.equal(cp.deployment.spec.strategy.rollingUpdate.maxUnavailable, 1);
          assert.equal(cp.flags.store, "etcd");
          assert.equal(cp.flags.data_dir, undefined, "no --data_dir: the state is in etcd");
          assert.equal(cp.flags.replica_id, "$(POD_NAME)");
          assert.equal(cp.container.env.find((e) => e.name === "POD_NAME")?.valueFrom?.fieldRef?.fieldPath, "metadata.name");
          assert.ok(!find(objects(), "PersistentVolumeClaim", "nginx-xds-controlplane-data"), "a control plane claim is left");
          const spec = cp.deployment.spec.template.spec;
          assert.ok(!spec.volumes.some((v) => v.persistentVolumeClaim), "a replica mounts a claim");
          const required = spec.affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? [];
          assert.ok(required.some((t) => t.topologyKey === "kubernetes.io/hostname"
            && selects(t.labelSelector, cp.deployment.spec.template.metadata.labels)),
          "replicas are not kept on separate nodes");
          // readiness asks etcd (the gateway's /readyz); liveness and startup do not
          assert.equal(cp.container.readinessProbe?.httpGet?.path, "/readyz");
          assert.equal(cp.container.readinessProbe.httpGet.port, "admin-http");
          assert.equal(cp.container.readinessProbe.grpc, undefined);
          for (const probe of ["startupProbe", "livenessProbe"]) {
            assert.equal(cp.container[probe]?.grpc?.port, cp.ports.xds, `${probe} is gRPC health on the xDS port`);
          }

          // the endpoints are the StatefulSet's members, by the peers Service's names, on its client port
          const etcd = find(objects(), "StatefulSet", "nginx-xds-etcd");
          assert.ok(etcd, "no etcd StatefulSet");
          const peers = find(objects(), "Service", etcd.spec.serviceName);
          assert.equal(peers?.spec.clusterIP, "None", "the StatefulSet's Service is not headless");
          const clientPort = peers.spec.ports.find((p) => p.targetPort === "client").port;
          const members = [...Array(etcd.spec.replicas).keys()].map((i) => `http://${etcd.metadata.name}-${i}.${peers.metadata.name}:${clientPort}`);
          assert.deepEqual(cp.flags.etcd_endpoints.split(","), members);

          // the members' --initial-cluster names the same pods and the peer port
          const container = etcd.spec.template.spec.containers[0];
          const args = Object.fromEntries(container.args.map((a) => a.replace(/^--/, "").split(/=(.*)/s).slice(0, 2)));
          const peerPort = container.ports.find((p) => p.name === "peer").containerPort;
          const initial = args["initial-cluster"].split(",").map((m) => m.split("=")[0]);
          assert.deepEqual(initial, [...Array(etcd.spec.replicas).keys()].map((i) => `${etcd.metadata.name}-${i}`));
          assert.ok(args["initial-cluster"].split(",").every((m) => m.endsWith(`.${peers.metadata.name}.$(POD_NAMESPACE).svc:${peerPort}`)));
          assert.equal(args.name, "$(POD_NAME)");
          assert.equal(etcd.spec.replicas, 3, "a quorum that survives one member");
          const etcdRequired = etcd.spec.template.spec.affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? [];
          assert.ok(etcdRequired.some((t) => t.topologyKey === "kubernetes.io/hostname" && selects(t.labelSelector, etcd.spec.template.metadata.labels)));
          const dataMount = container.volumeMounts.find((m) => m.mountPath === args["data-dir"]);
          assert.ok(etcd.spec.volumeClaimTemplates.some((c) => c.metadata.name === dataMount?.name), "etcd's data dir is not on its claim");

          // PDBs: one of each at a time
          for (const workload of [cp.deployment, etcd]) {
            const pdbs = objects().filter((o) => o.kind === "PodDisruptionBudget" && selects(o.spec.selector, workload.spec.template.metadata.labels));
            assert.equal(pdbs.length, 1, `${id(workload)}: ${pdbs.length} PodDisruptionBudgets`);
            assert.equal(pdbs[0].spec.maxUnavailable, 1);
          }

          // only the control plane and the members reach etcd's client port
          const policy = objects().find((o) => o.kind === "NetworkPolicy" && selects(o.spec.podSelector, etcd.spec.template.metadata.labels));
          assert.ok(policy, "no NetworkPolicy for etcd");
          const clientPeers = policy.spec.ingress.filter((r) => r.ports.some((p) => p.port === "client")).flatMap((r) => r.from);
          assert.ok(clientPeers.some((p) => selects(p.podSelector, cp.deployment.spec.template.metadata.labels)), "the control plane cannot reach etcd");
          const fleetLabels = fleetWorkload(objects()).workload.spec.template.metadata.labels;
          assert.ok(!clientPeers.some((p) => selects(p.podSelector, fleetLabels)), "the fleet reaches etcd");
        });
      }

      it("points the fleet's xds_server at the xDS Service, and the admin Service at the admin ports", () => {
        const cp = controlPlane(objects());
        const { workload } = fleetWorkload(objects());
        const conf = fleetConf(objects(), workload);
        const server = conf.directives.find((d) => d.name === "xds_server");
        assert.ok(server, "nginx.conf has no xds_server");
        const [host, port] = server.args[0].split(":");
        const service = find(objects(), "Service", host);
        assert.ok(service, `xds_server ${server.args[0]}: no Service ${host}`);
        const servicePort = service.spec.ports.find((p) => p.port === Number(port));
        assert.ok(servicePort, `Service ${host} has no port ${port}`);
        assert.equal(servicePort.targetPort, "xds");
        assert.ok(selects(service.spec.selector, cp.deployment.spec.template.metadata.labels));
        const admin = find(objects(), "Service", "nginx-xds-controlplane-admin");
        assert.deepEqual(admin.spec.ports.map((p) => p.targetPort).sort(), ["admin-grpc", "admin-http"]);
        assert.deepEqual(service.spec.ports.map((p) => p.targetPort), ["xds"], "the fleet's Service exposes xDS only");
      });

      it("lets only fleet pods reach xDS and only operator pods reach the admin ports", () => {
        const cp = controlPlane(objects());
        const fleetLabels = fleetWorkload(objects()).workload.spec.template.metadata.labels;
        const operatorLabels = { "nginx-xds.io/operator": "true" };
        const policies = objects().filter((o) => o.kind === "NetworkPolicy"
          && selects(o.spec.podSelector, cp.deployment.spec.template.metadata.labels));
        assert.equal(policies.length, 1, "one NetworkPolicy selects the control plane");
        const policy = policies[0].spec;
        assert.deepEqual(policy.policyTypes, ["Ingress"]);
        const allowed = new Map(); // port name -> the rule's peers
        for (const rule of policy.ingress) {
          assert.ok(rule.from?.length, "a rule without `from` admits everyone");
          assert.ok(rule.ports?.length, "a rule without ports admits every port");
          for (const peer of rule.from) {
            assert.deepEqual(Object.keys(peer), ["podSelector"], "peers are pods of this namespace only");
          }
          for (const port of rule.ports) {
            assert.ok(port.port in cp.ports, `policy port ${port.port} is no named port of the control plane`);
            allowed.set(port.port, [...(allowed.get(port.port) ?? []), ...rule.from]);
          }
        }
        assert.deepEqual([...allowed.keys()].sort(), Object.keys(cp.ports).sort(), "every control plane port has a rule");
        const admits = (port, labels) => (allowed.get(port) ?? []).some((peer) => selects(peer.podSelector, labels));
        assert.ok(admits("xds", fleetLabels), "fleet pods cannot reach xDS");
        assert.ok(!admits("xds", operatorLabels), "operator pods reach xDS");
        for (const port of ["admin-grpc", "admin-http"]) {
          assert.ok(admits(port, operatorLabels), `operator pods cannot reach ${port}`);
          assert.ok(!admits(port, fleetLabels), `fleet pods reach ${port}`);
          assert.ok(!admits(port, {}), `unlabeled pods reach ${port}`);
        }
        assert.ok(!admits("xds", {}), "unlabeled pods reach xDS");
      });

      it("gives nginx its config, node id, writable paths and probes", () => {
        const { workload, container, ports } = fleetWorkload(objects());
        const conf = fleetConf(objects(), workload);
        const spec = workload.spec.template.spec;

        // The script renders /etc/nginx-xds/nginx.conf.template by default.
        const templatePath = /template=\$\{NGINX_XDS_TEMPLATE:-([^}]+)\}/.exec(FLEET_SCRIPT)[1];
        const confMount = container.volumeMounts.find((m) => m.name === conf.volume.name);
        assert.equal(path.posix.join(confMount.mountPath, "nginx.conf.template"), templatePath);
        assert.equal(confMount.readOnly, true);

        const env = Object.fromEntries(container.env.map((e) => [e.name, e]));
        assert.equal(env.XDS_NODE_ID?.valueFrom?.fieldRef?.fieldPath, "metadata.name", "xds_node_id is the pod's name");
        assert.equal(env.NGINX_WORKER_PROCESSES?.valueFrom?.resourceFieldRef?.resource, "limits.cpu");
        const used = new Set([...conf.text.matchAll(/\$\{([A-Z_]+)\}/g)].map((m) => m[1]));
        assert.deepEqual([...used].sort(), ["NGINX_WORKER_PROCESSES", "XDS_NODE_ID"]);
        const substituted = /envsubst '([^']+)'/.exec(FLEET_SCRIPT)[1].match(/[A-Z_]+/g).sort();
        assert.deepEqual(substituted, [...used].sort(), "the script fills in exactly the template's variables");

        // nginx listens on the container's ports; the status server serves xds_status.
        const listens = conf.directives.filter((d) => d.name === "listen").map((d) => Number(d.args[0]));
        assert.deepEqual(listens, [ports.http, ports.status]);
        assert.ok(ports.http > 1024 && ports.status > 1024, "unprivileged ports");
        const statusServer = conf.text.slice(conf.text.indexOf(`listen ${ports.status};`));
        assert.match(statusServer, /location = \/xds\/status \{\s*xds_status;/);
        const statusUrl = /status_url=\$\{NGINX_XDS_STATUS_URL:-([^}]+)\}/.exec(FLEET_SCRIPT)[1];
        assert.equal(new URL(statusUrl).port, String(ports.status), "the ready script asks the status port");
        assert.equal(new URL(statusUrl).pathname, "/xds/status");

        // Every path nginx writes is on an emptyDir (the root file system is read-only).
        const writable = spec.volumes.filter((v) => v.emptyDir).map((v) => container.volumeMounts.find((m) => m.name === v.name)?.mountPath);
        const written = conf.directives.filter((d) => ["pid", "xds_cache"].includes(d.name) || d.name.endsWith("_temp_path"))
          .map((d) => d.args[0]);
        assert.ok(written.length >= 7, `found only ${written.join(" ")}`);
        for (const file of written) {
          assert.ok(writable.some((dir) => dir && under(file, dir)), `nginx writes ${file}, which is on no emptyDir`);
        }
        const renderedConf = /conf=\$\{NGINX_XDS_CONF:-([^}]+)\}/.exec(FLEET_SCRIPT)[1];
        assert.ok(writable.some((dir) => under(renderedConf, dir)), `the script writes ${renderedConf} on no emptyDir`);
        for (const log of conf.directives.filter((d) => d.name === "access_log" || d.name === "error_log")) {
          assert.ok(["/dev/stdout", "/dev/stderr", "stderr", "off"].includes(log.args[0]), `${log.name} ${log.args[0]}`);
        }
        assert.ok(conf.directives.some((d) => d.name === "load_module" && d.args[0].endsWith("/ngx_http_xds_module.so")));

        assert.deepEqual(container.readinessProbe?.exec?.command, ["nginx-xds-fleet", "ready"]);
        assert.equal(container.livenessProbe?.httpGet?.path, "/xds/status");
        assert.equal(container.livenessProbe?.httpGet?.port, "status");
        assert.deepEqual(container.lifecycle?.preStop?.exec?.command, ["nginx-xds-fleet", "drain"]);
        assert.ok(spec.terminationGracePeriodSeconds > 5 + 10, "time to drain after preStop's 5 s");
      });

      it("runs every pod non-root, read-only, without capabilities, under RuntimeDefault seccomp", () => {
        for (const pod of podSpecs(objects())) {
          const podSecurity = pod.spec.securityContext ?? {};
          assert.equal(podSecurity.runAsNonRoot, true, `${pod.owner} runAsNonRoot`);
          assert.ok(podSecurity.runAsUser > 0, `${pod.owner} runAsUser`);
          assert.equal(podSecurity.seccompProfile?.type, "RuntimeDefault", `${pod.owner} seccomp`);
          assert.ok(!pod.spec.hostNetwork && !pod.spec.hostPID && !pod.spec.hostIPC, `${pod.owner} host namespaces`);
          assert.equal(pod.spec.automountServiceAccountToken, false, `${pod.owner} mounts an API token`);
          assert.ok(!(pod.spec.volumes ?? []).some((v) => v.hostPath), `${pod.owner} hostPath`);
          for (const container of [...pod.spec.containers, ...(pod.spec.initContainers ?? [])]) {
            const security = container.securityContext ?? {};
            const where = `${pod.owner} container ${container.name}`;
            assert.equal(security.allowPrivilegeEscalation, false, `${where} allowPrivilegeEscalation`);
            assert.equal(security.readOnlyRootFilesystem, true, `${where} readOnlyRootFilesystem`);
            assert.deepEqual(security.capabilities?.drop, ["ALL"], `${where} drops ALL`);
            assert.equal(security.capabilities?.add, undefined, `${where} adds capabilities`);
            assert.ok(!security.privileged, `${where} privileged`);
            for (const port of container.ports ?? []) {
              assert.ok(port.containerPort > 1024, `${where} port ${port.containerPort} is privileged`);
              assert.equal(port.hostPort, undefined, `${where} hostPort`);
            }
          }
        }
      });

      it("sets requests and limits on every container (requests <= limits)", () => {
        for (const pod of podSpecs(objects())) {
          for (const container of pod.spec.containers) {
            const { requests = {}, limits = {} } = container.resources ?? {};
            for (const resource of ["cpu", "memory"]) {
              assert.ok(requests[resource] && limits[resource], `${pod.owner} ${container.name}: ${resource} request and limit`);
              assert.ok(quantity(requests[resource]) <= quantity(limits[resource]), `${pod.owner} ${container.name}: ${resource} request > limit`);
            }
          }
        }
      });

      if (variant.name !== "base") {
        it("uses the overlay's images, with a tag", () => {
          for (const pod of podSpecs(objects())) {
            for (const container of pod.spec.containers) {
              // ours from the overlay's registry; etcd's own release image
              const image = container.name === "etcd" ? /^quay\.io\/coreos\/etcd:v3\.4\.\d+$/ : /^[a-z0-9.-]+\/nginx-xds\/(controlplane|nginx):[\w.-]+$/;
              assert.match(container.image, image, `${pod.owner} image`);
            }
          }
        });
      }

      if (variant.daemonset) {
        it("runs the fleet as a DaemonSet whose pods are the Deployment variant's", () => {
          const { workload } = fleetWorkload(objects());
          assert.equal(workload.kind, "DaemonSet");
          assert.ok(!find(objects(), "Deployment", FLEET), "the fleet Deployment is still there");
          const deployment = find(rendered.get(variant.name.replace("+daemonset", "")), "Deployment", FLEET);
          const strip = (template) => {
            const copy = structuredClone(template);
            delete copy.spec.affinity;
            delete copy.spec.topologySpreadConstraints;
            return copy;
          };
          assert.deepEqual(strip(workload.spec.template), strip(deployment.spec.template),
            "components/fleet-daemonset/daemonset.yaml drifted from base/fleet/deployment.yaml");
          assert.deepEqual(workload.spec.template.spec.topologySpreadConstraints, undefined, "spread constraints on a DaemonSet");
          assert.deepEqual(workload.spec.updateStrategy?.rollingUpdate, { maxSurge: 1, maxUnavailable: 0 });
          // maxUnavailable needs a controller with a scale subresource; a DaemonSet has none.
          const pdb = find(objects(), "PodDisruptionBudget", FLEET);
          assert.equal(pdb.spec.maxUnavailable, undefined);
          assert.ok(Number.isInteger(pdb.spec.minAvailable), "an integer minAvailable");
        });
      } else if (variant.name !== "base") {
        it("runs the fleet as a Deployment that surges before it removes", () => {
          const { workload } = fleetWorkload(objects());
          assert.equal(workload.kind, "Deployment");
          assert.deepEqual(workload.spec.strategy?.rollingUpdate, { maxSurge: 1, maxUnavailable: 0 });
          assert.equal(find(objects(), "PodDisruptionBudget", FLEET).spec.maxUnavailable, 1);
        });
      }
    });
  }

  it("sizes prod above dev: more nginx, spread over zones and nodes, larger limits and store", () => {
    const dev = rendered.get("dev");
    const prod = rendered.get("prod");
    const devFleet = find(dev, "Deployment", FLEET);
    const prodFleet = find(prod, "Deployment", FLEET);
    assert.equal(devFleet.spec.replicas, 1);
    assert.ok(prodFleet.spec.replicas >= 3, `prod runs ${prodFleet.spec.replicas} nginx`);
    const spread = prodFleet.spec.template.spec.topologySpreadConstraints ?? [];
    assert.deepEqual(spread.map((c) => c.topologyKey).sort(), ["kubernetes.io/hostname", "topology.kubernetes.io/zone"]);
    for (const c of spread) assert.ok(selects(c.labelSelector, prodFleet.spec.template.metadata.labels));
    const antiAffinity = prodFleet.spec.template.spec.affinity?.podAntiAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? [];
    assert.ok(antiAffinity.some((term) => selects(term.podAffinityTerm.labelSelector, prodFleet.spec.template.metadata.labels)));
    assert.equal(devFleet.spec.template.spec.topologySpreadConstraints, undefined);
    for (const [kind, name] of [["Deployment", FLEET], ["Deployment", CONTROLPLANE]]) {
      const limits = (objects) => find(objects, kind, name).spec.template.spec.containers[0].resources.limits;
      for (const resource of ["cpu", "memory"]) {
        assert.ok(quantity(limits(prod)[resource]) > quantity(limits(dev)[resource]), `${name} ${resource} limit: prod > dev`);
      }
    }
    // dev keeps its store on one claim; prod on each etcd member's
    const devStorage = quantity(find(dev, "PersistentVolumeClaim", "nginx-xds-controlplane-data").spec.resources.requests.storage);
    const etcdClaims = find(prod, "StatefulSet", "nginx-xds-etcd").spec.volumeClaimTemplates;
    assert.ok(quantity(etcdClaims[0].spec.resources.requests.storage) > devStorage);
  });
});
