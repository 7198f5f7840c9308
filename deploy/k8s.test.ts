// deploy/k8s as Kubernetes would take it: the kustomization rendered (resources + namespace), every
// object validated against the Kubernetes API schemas (the npm package kubernetes-models), and the
// wiring checked: selectors, ports, probes, references, and each role's environment accepted by loadConfig.
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { loadConfig, ROLES } from "../src/config";

const DIR = join(import.meta.dir, "k8s");

type Obj = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string> }; [k: string]: any };

const parseDocs = (text: string): Obj[] => {
  const docs = Bun.YAML.parse(text) as Obj | Obj[];
  return (Array.isArray(docs) ? docs : [docs]).filter(Boolean);
};

/** What `kubectl kustomize deploy/k8s` does with the fields this base uses (and a refusal of any other). */
function render(dir = DIR): Obj[] {
  const k = Bun.YAML.parse(readFileSync(join(dir, "kustomization.yaml"), "utf8")) as { namespace: string; resources: string[] } & Record<string, unknown>;
  expect(Object.keys(k).sort()).toEqual(["apiVersion", "kind", "namespace", "resources"]);
  return k.resources.flatMap((file) =>
    parseDocs(readFileSync(join(dir, file), "utf8")).map((o) => (o.kind === "Namespace" ? o : { ...o, metadata: { ...o.metadata, namespace: k.namespace } })),
  );
}

/** Validates one object against its API schema; returns the errors (empty when valid). */
async function schemaErrors(o: Obj): Promise<string[]> {
  let Model: new (o: Obj) => { validate(): void };
  try {
    Model = (await import(`kubernetes-models/${o.apiVersion}/${o.kind}`))[o.kind];
  } catch {
    return [`no schema for ${o.apiVersion} ${o.kind}`];
  }
  try {
    new Model(o).validate();
    return [];
  } catch (e) {
    return [`${o.kind}/${o.metadata?.name}: ${(e as Error).message}`];
  }
}

const matches = (selector: Record<string, string>, labels: Record<string, string> = {}) => Object.entries(selector).every(([k, v]) => labels[k] === v);
const envOf = (d: Obj) => Object.fromEntries((d.spec.template.spec.containers[0].env ?? []).map((e: { name: string; value: string }) => [e.name, e.value]));

/** Wiring mistakes a schema cannot see. */
function wiringErrors(objs: Obj[]): string[] {
  const errs: string[] = [];
  const of = (kind: string) => objs.filter((o) => o.kind === kind);
  const deployments = of("Deployment");
  const services = new Map(of("Service").map((s) => [s.metadata.name, s]));
  const names = (kind: string) => new Set(of(kind).map((o) => o.metadata.name));
  for (const d of deployments) {
    const pod = d.spec.template;
    if (!matches(d.spec.selector.matchLabels, pod.metadata.labels)) errs.push(`Deployment ${d.metadata.name}: selector does not match its pods`);
    for (const c of pod.spec.containers) {
      const ports = new Set(c.ports.map((p: { name: string }) => p.name));
      for (const [probe, path] of [["startupProbe", "/health/live"], ["livenessProbe", "/health/live"], ["readinessProbe", "/health/ready"]] as const) {
        if (c[probe]?.httpGet?.path !== path) errs.push(`Deployment ${d.metadata.name}: ${probe} must GET ${path}`);
        if (!ports.has(c[probe]?.httpGet?.port)) errs.push(`Deployment ${d.metadata.name}: ${probe} port ${c[probe]?.httpGet?.port} is not a container port`);
      }
      for (const f of c.envFrom ?? []) {
        if (f.configMapRef && !names("ConfigMap").has(f.configMapRef.name)) errs.push(`Deployment ${d.metadata.name}: no ConfigMap ${f.configMapRef.name}`);
        if (f.secretRef && !names("Secret").has(f.secretRef.name)) errs.push(`Deployment ${d.metadata.name}: no Secret ${f.secretRef.name}`);
      }
    }
    for (const [k, v] of Object.entries(envOf(d))) {
      if (!k.endsWith("_URL")) continue;
      const u = new URL(v);
      if (!services.get(u.hostname)?.spec.ports.some((p: { port: number }) => p.port === Number(u.port))) errs.push(`Deployment ${d.metadata.name}: ${k} names no Service port ${u.host}`);
    }
  }
  for (const s of of("Service")) {
    if (!s.spec.selector) continue; // external: ExternalName or EndpointSlice
    const targets = deployments.filter((d) => matches(s.spec.selector, d.spec.template.metadata.labels));
    if (targets.length !== 1) errs.push(`Service ${s.metadata.name}: selector matches ${targets.length} Deployments`);
    for (const p of s.spec.ports)
      if (typeof p.targetPort === "string" && !targets[0]?.spec.template.spec.containers.some((c: { ports: { name: string }[] }) => c.ports.some((cp) => cp.name === p.targetPort)))
        errs.push(`Service ${s.metadata.name}: targetPort ${p.targetPort} is no container port`);
  }
  for (const h of of("HorizontalPodAutoscaler")) {
    const d = deployments.find((x) => x.metadata.name === h.spec.scaleTargetRef.name && h.spec.scaleTargetRef.kind === "Deployment");
    if (!d) errs.push(`HPA ${h.metadata.name}: no Deployment ${h.spec.scaleTargetRef.name}`);
    else if (d.spec.replicas !== undefined) errs.push(`HPA ${h.metadata.name}: Deployment ${d.metadata.name} sets replicas, which every apply would reset`);
  }
  for (const p of of("PodDisruptionBudget"))
    if (deployments.filter((d) => matches(p.spec.selector.matchLabels, d.spec.template.metadata.labels)).length !== 1) errs.push(`PDB ${p.metadata.name}: selector matches no single Deployment`);
  for (const e of of("EndpointSlice")) if (!services.has(e.metadata.labels?.["kubernetes.io/service-name"] ?? "")) errs.push(`EndpointSlice ${e.metadata.name}: no Service`);
  return errs;
}

const objects = render();

describe("deploy/k8s", () => {
  test("every rendered object is valid against the Kubernetes API schemas", async () => {
    const kinds = objects.map((o) => `${o.apiVersion}/${o.kind}`);
    for (const k of ["apps/v1/Deployment", "v1/Service", "autoscaling/v2/HorizontalPodAutoscaler", "policy/v1/PodDisruptionBudget", "v1/ConfigMap", "v1/Secret", "discovery.k8s.io/v1/EndpointSlice"]) expect(kinds).toContain(k);
    const errors = (await Promise.all(objects.map(schemaErrors))).flat();
    expect(errors).toEqual([]);
    // one name per kind, one namespace for everything
    expect(new Set(objects.map((o) => `${o.kind}/${o.metadata.name}`)).size).toBe(objects.length);
    expect(new Set(objects.filter((o) => o.kind !== "Namespace").map((o) => o.metadata.namespace))).toEqual(new Set(["massive-coupon"]));
  });

  test("the schemas reject a broken manifest", async () => {
    const d = structuredClone(objects.find((o) => o.kind === "Deployment")!);
    d.spec.template.spec.containers[0].ports[0].containerPort = "3000";
    expect((await schemaErrors(d))[0]).toContain("containerPort must be integer");
    const noContainers = structuredClone(objects.find((o) => o.kind === "Deployment")!);
    delete noContainers.spec.template.spec.containers;
    expect((await schemaErrors(noContainers))[0]).toContain("containers");
    const hpa = structuredClone(objects.find((o) => o.kind === "HorizontalPodAutoscaler")!);
    hpa.spec.maxReplicas = "many";
    expect(await schemaErrors(hpa)).not.toEqual([]);
    expect(await schemaErrors({ apiVersion: "apps/v1", kind: "Deploymnet", metadata: { name: "x" } })).toEqual(["no schema for apps/v1 Deploymnet"]);
  });

  test("one Deployment per role with probes on the health routes; Services, HPA, PDBs and references are wired", () => {
    const deployments = objects.filter((o) => o.kind === "Deployment");
    expect(deployments.map((d) => envOf(d).ROLE).sort()).toEqual([...ROLES].sort());
    expect(wiringErrors(objects)).toEqual([]);
    expect(objects.filter((o) => o.kind === "HorizontalPodAutoscaler").map((h) => h.spec.scaleTargetRef.name)).toEqual(["router"]);
    expect(objects.filter((o) => o.kind === "PodDisruptionBudget").map((p) => p.metadata.name).sort()).toEqual([...ROLES].sort());
    // Redis Cluster and MySQL are outside: a Service without pods behind it each
    const external = objects.filter((o) => o.kind === "Service" && !o.spec.selector).map((s) => s.metadata.name);
    expect(external.sort()).toEqual(["mysql", "redis-cluster"]);
  });

  test("the wiring check catches what schemas cannot", () => {
    const broken = structuredClone(objects);
    const svc = broken.find((o) => o.kind === "Service" && o.metadata.name === "queue")!;
    svc.spec.selector["app.kubernetes.io/component"] = "queu";
    const router = broken.find((o) => o.kind === "Deployment" && o.metadata.name === "router")!;
    router.spec.template.spec.containers[0].readinessProbe.httpGet.path = "/health/live";
    router.spec.template.spec.containers[0].env.find((e: { name: string }) => e.name === "COUPON_URL").value = "http://coupons:3000";
    expect(wiringErrors(broken).sort()).toEqual([
      "Deployment router: COUPON_URL names no Service port coupons:3000",
      "Deployment router: readinessProbe must GET /health/ready",
      "Service queue: selector matches 0 Deployments",
      "Service queue: targetPort http is no container port",
    ]);
  });

  test("each role's environment (ConfigMap + Secret + its own env) is accepted by the server's config", () => {
    const cm = objects.find((o) => o.kind === "ConfigMap")!.data as Record<string, string>;
    const secret = objects.find((o) => o.kind === "Secret")!.stringData as Record<string, string>;
    // the base leaves the secrets empty on purpose: as shipped, the server refuses to start
    expect(() => loadConfig({ ...cm, ...secret, ROLE: "router" })).toThrow("ADMIN_TOKEN is required");
    const filled = { ...secret, ADMIN_TOKEN: "an-admin-token-of-24-chars+", AUTH_JWT_SECRET: "a-jwt-secret-of-32-bytes-or-more!", METRICS_TOKEN: "a-metrics-token", INTERNAL_TOKEN: "an-internal-token-of-24-chars+" };
    for (const d of objects.filter((o) => o.kind === "Deployment")) {
      const config = loadConfig({ ...cm, ...filled, ...envOf(d) });
      expect([...config.roles]).toEqual([envOf(d).ROLE]);
      expect(config.redisClusterNodes).toEqual([{ host: "redis-cluster", port: 6379 }]);
      expect(new URL(config.databaseUrl).hostname).toBe("mysql");
      expect(config.port).toBe(3000);
    }
  });
});
