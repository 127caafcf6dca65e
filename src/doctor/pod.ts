/**
 * Workloads and their pod templates, read the way the kubelet reads them: the API defaults
 * (grace 30 s, probe period 10 s, failure threshold 3, one replica, rolling update 25 %/25 %)
 * are filled in and each value says whether it came from the manifest or from a default.
 */
import type { ManifestObject, PathSegment } from './manifests.js';

/** Where a pod spec sits in each workload kind. */
const POD_SPEC_PATHS: Readonly<Record<string, readonly PathSegment[]>> = {
  Deployment: ['spec', 'template', 'spec'],
  StatefulSet: ['spec', 'template', 'spec'],
  DaemonSet: ['spec', 'template', 'spec'],
  ReplicaSet: ['spec', 'template', 'spec'],
  Job: ['spec', 'template', 'spec'],
  CronJob: ['spec', 'jobTemplate', 'spec', 'template', 'spec'],
  Pod: ['spec'],
  PodTemplate: ['template', 'spec'],
};

export const WORKLOAD_KINDS: readonly string[] = Object.keys(POD_SPEC_PATHS);

/** API defaults the budget relies on (Kubernetes OpenAPI schema and workload docs). */
export const K8S_DEFAULTS = Object.freeze({
  terminationGracePeriodSeconds: 30,
  periodSeconds: 10,
  timeoutSeconds: 1,
  failureThreshold: 3,
  replicas: 1,
  maxSurge: '25%',
  maxUnavailable: '25%',
});

export type Rec = Record<string, unknown>;

export function rec(v: unknown): Rec | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Rec) : undefined;
}

export function get(v: unknown, path: readonly PathSegment[]): unknown {
  let cur: unknown = v;
  for (const seg of path) {
    if (typeof seg === 'number') cur = Array.isArray(cur) ? cur[seg] : undefined;
    else cur = rec(cur)?.[seg];
    if (cur === undefined) return undefined;
  }
  return cur;
}

export interface Workload {
  readonly object: ManifestObject;
  /** `Deployment/web`. */
  readonly label: string;
  readonly podSpecPath: readonly PathSegment[];
  readonly podSpec: Rec;
  /** The pod template's labels (what Services select). */
  readonly podLabels: Readonly<Record<string, string>>;
  readonly containers: readonly Container[];
}

export interface Container {
  readonly name: string;
  readonly index: number;
  /** Path of this container inside the object (for locating its fields). */
  readonly path: readonly PathSegment[];
  readonly spec: Rec;
}

export function workloadsOf(objects: readonly ManifestObject[]): Workload[] {
  const out: Workload[] = [];
  for (const object of objects) {
    const podSpecPath = POD_SPEC_PATHS[object.kind];
    if (!podSpecPath) continue;
    const podSpec = rec(get(object.value, podSpecPath)) ?? {};
    const metaPath = object.kind === 'Pod' ? ['metadata', 'labels'] : [...podSpecPath.slice(0, -1), 'metadata', 'labels'];
    const labels = rec(get(object.value, metaPath)) ?? {};
    const containers = (Array.isArray(podSpec.containers) ? podSpec.containers : []).flatMap((c: unknown, index: number): Container[] => {
      const spec = rec(c);
      return spec ? [{ name: typeof spec.name === 'string' ? spec.name : `#${index}`, index, path: [...podSpecPath, 'containers', index], spec }] : [];
    });
    out.push({
      object,
      label: `${object.kind}/${object.name}`,
      podSpecPath,
      podSpec,
      podLabels: Object.fromEntries(Object.entries(labels).filter((e): e is [string, string] => typeof e[1] === 'string')),
      containers,
    });
  }
  return out;
}

/** A number from the manifest or its API default, with where it came from. */
export interface Sourced<T> {
  readonly value: T;
  /** `manifest` (the field's line is in `path`) or `default`. */
  readonly from: 'manifest' | 'default';
  readonly path: readonly PathSegment[];
}

export function sourcedNumber(object: ManifestObject, path: readonly PathSegment[], fallback: number): Sourced<number> {
  const v = get(object.value, path);
  return typeof v === 'number' ? { value: v, from: 'manifest', path } : { value: fallback, from: 'default', path };
}

/** preStop as the kubelet runs it. */
export type PreStop =
  | { readonly kind: 'none' }
  | { readonly kind: 'sleep'; readonly seconds: number; readonly how: 'sleep action' | 'exec sleep' }
  /** An HTTP GET to the container (the kubelet waits for the answer, at most the grace). */
  | { readonly kind: 'httpGet'; readonly path: string; readonly port: number | string | undefined; readonly headers: readonly { readonly name: string; readonly value: string }[] }
  | { readonly kind: 'unknown'; readonly what: string };

/** Reads `lifecycle.preStop`: the sleep action, an exec that is a plain sleep (`sleep 5`, `sh -c "sleep 5"`, `5s`), or unknown. */
export function preStopOf(container: Container): PreStop {
  const preStop = rec(get(container.spec, ['lifecycle', 'preStop']));
  if (!preStop) return { kind: 'none' };
  const sleep = rec(preStop.sleep);
  if (sleep && typeof sleep.seconds === 'number') return { kind: 'sleep', seconds: sleep.seconds, how: 'sleep action' };
  const command = get(preStop, ['exec', 'command']);
  if (Array.isArray(command) && command.every((c) => typeof c === 'string')) {
    const seconds = sleepSeconds(command);
    if (seconds !== undefined) return { kind: 'sleep', seconds, how: 'exec sleep' };
    return { kind: 'unknown', what: `exec ${JSON.stringify(command)}` };
  }
  const httpGet = rec(preStop.httpGet);
  if (httpGet) {
    const headers = (Array.isArray(httpGet.httpHeaders) ? httpGet.httpHeaders : []).flatMap((h: unknown) => {
      const r = rec(h);
      return typeof r?.name === 'string' && typeof r.value === 'string' ? [{ name: r.name, value: r.value }] : [];
    });
    const port = typeof httpGet.port === 'number' || typeof httpGet.port === 'string' ? httpGet.port : undefined;
    return { kind: 'httpGet', path: typeof httpGet.path === 'string' ? httpGet.path : '/', port, headers };
  }
  if (preStop.httpGet !== undefined) return { kind: 'unknown', what: 'an httpGet hook' };
  if (preStop.tcpSocket !== undefined) return { kind: 'unknown', what: 'a tcpSocket hook' };
  return { kind: 'unknown', what: 'a hook with no handler' };
}

const UNIT_SECONDS: Readonly<Record<string, number>> = { '': 1, s: 1, m: 60, h: 3_600 };

function sleepSeconds(command: readonly string[]): number | undefined {
  let words = [...command];
  if (words.length === 3 && /(^|\/)(ba|da)?sh$/.test(words[0]!) && words[1] === '-c') words = words[2]!.trim().split(/\s+/);
  if (words.length !== 2 || !/(^|\/)sleep$/.test(words[0]!)) return undefined;
  const m = /^(\d+(?:\.\d+)?)([smh]?)$/.exec(words[1]!);
  return m ? Number(m[1]) * UNIT_SECONDS[m[2]!]! : undefined;
}

/** A probe with the kubelet's defaults filled in. */
export interface Probe {
  readonly kind: 'readinessProbe' | 'livenessProbe';
  readonly path: readonly PathSegment[];
  readonly handler: 'httpGet' | 'tcpSocket' | 'exec' | 'grpc' | 'none';
  readonly httpPath: string | undefined;
  readonly port: number | string | undefined;
  readonly command: readonly string[] | undefined;
  readonly periodSeconds: number;
  readonly timeoutSeconds: number;
  readonly failureThreshold: number;
}

export function probeOf(container: Container, kind: Probe['kind']): Probe | undefined {
  const p = rec(container.spec[kind]);
  if (!p) return undefined;
  const handler = (['httpGet', 'tcpSocket', 'exec', 'grpc'] as const).find((h) => p[h] !== undefined) ?? 'none';
  const h = rec(p[handler]);
  const num = (k: string, d: number): number => (typeof p[k] === 'number' ? (p[k]) : d);
  return {
    kind,
    path: [...container.path, kind],
    handler,
    httpPath: handler === 'httpGet' ? (typeof h?.path === 'string' ? h.path : '/') : undefined,
    port: typeof h?.port === 'number' || typeof h?.port === 'string' ? h.port : undefined,
    command: handler === 'exec' && Array.isArray(h?.command) ? (h.command as string[]) : undefined,
    periodSeconds: num('periodSeconds', K8S_DEFAULTS.periodSeconds),
    timeoutSeconds: num('timeoutSeconds', K8S_DEFAULTS.timeoutSeconds),
    failureThreshold: num('failureThreshold', K8S_DEFAULTS.failureThreshold),
  };
}

/** The container's port numbers by name (for probes that name a port). */
export function containerPorts(container: Container): { readonly numbers: readonly number[]; readonly byName: ReadonlyMap<string, number> } {
  const ports = Array.isArray(container.spec.ports) ? container.spec.ports : [];
  const numbers: number[] = [];
  const byName = new Map<string, number>();
  for (const p of ports) {
    const r = rec(p);
    if (typeof r?.containerPort !== 'number') continue;
    numbers.push(r.containerPort);
    if (typeof r.name === 'string') byName.set(r.name, r.containerPort);
  }
  return { numbers, byName };
}

/** A Kubernetes int-or-percent (`1`, `"25%"`) against a replica count: surge rounds up, unavailable rounds down. */
export function scaledIntOrPercent(value: unknown, replicas: number, round: 'up' | 'down'): number | undefined {
  if (typeof value === 'number') return value;
  if (typeof value === 'string') {
    const m = /^(\d+)%$/.exec(value);
    if (m) {
      const exact = (Number(m[1]) * replicas) / 100;
      return round === 'up' ? Math.ceil(exact) : Math.floor(exact);
    }
    if (/^\d+$/.test(value)) return Number(value);
  }
  return undefined;
}
