/**
 * The doctor's checks over parsed manifests. Each finding carries its rule id, the line it is
 * about, the numbers behind it and the fix.
 */
import type { EnvOptionName } from '../core/env-options.js';
import { PRESTOP_HEADER } from '../core/health.js';
import { defaultLagMarginMs, evaluateBudget, fittingGraceSeconds, seconds, type Budget, type BudgetTermName } from './budget.js';
import { finding, type ManifestObject, type PathSegment } from './manifests.js';
import {
  containerPorts, get, K8S_DEFAULTS, preStopOf, probeOf, rec, scaledIntOrPercent, sourcedNumber, workloadsOf,
  type Container, type PreStop, type Probe, type Workload,
} from './pod.js';
import type { Finding, Location, Severity } from './rules.js';
import { containerDrainkitEnv, flagForEnv, resolveSettings, type DrainkitSettings } from './settings.js';

/** What the doctor knows beyond the manifests (its flags). */
export interface CheckOptions {
  /** The container that runs drainkit, when the manifests do not say (no DRAINKIT_* variable). */
  readonly container?: string | undefined;
  /** drainkit settings configured in code, as DRAINKIT_* names and values; they win over the manifest's. */
  readonly overrides?: Readonly<Record<string, string>> | undefined;
  /** Total bound of the shutdown hooks. Default: one hook of `hookTimeoutMs`. */
  readonly hooksMs?: number | undefined;
  /** Margin of the budget. Default: 5 s or a tenth of the grace. */
  readonly marginMs?: number | undefined;
  /**
   * How long the slowest consumer of the pod's endpoints (kube-proxy, an ingress controller, a
   * cloud balancer) takes to stop routing after the deletion. Default 2 s (in-cluster kube-proxy).
   */
  readonly endpointLagMs?: number | undefined;
  /** What the pod must keep serving beyond the endpoint lag. Default {@link defaultLagMarginMs}: 1 s or a quarter of the lag. */
  readonly lagMarginMs?: number | undefined;
  /** The idle timeout of the balancer in front, when no annotation in the input says. Default 60 s (AWS ALB, ingress-nginx). */
  readonly upstreamIdleTimeoutMs?: number | undefined;
}

/** One workload's budget, for the report's table. */
export interface WorkloadBudget {
  readonly workload: string;
  readonly container: string;
  readonly file: string;
  readonly line: number;
  /** The Helm template of the workload's document (`# Source:`), when the input was helm output. */
  readonly template: string | undefined;
  readonly budget: Budget;
}

export interface CheckResult {
  readonly findings: Finding[];
  readonly budgets: WorkloadBudget[];
}

const UPSTREAM_IDLE_DEFAULT_MS = 60_000;
const ENDPOINT_LAG_DEFAULT_MS = 2_000;
const ALB_TG_ATTRIBUTES = 'alb.ingress.kubernetes.io/target-group-attributes';
const NLB_TG_ATTRIBUTES = 'service.beta.kubernetes.io/aws-load-balancer-target-group-attributes';
const ALB_LB_ATTRIBUTES = 'alb.ingress.kubernetes.io/load-balancer-attributes';
const CLB_IDLE = 'service.beta.kubernetes.io/aws-load-balancer-connection-idle-timeout';

export function runChecks(objects: readonly ManifestObject[], options: CheckOptions = {}): CheckResult {
  const findings: Finding[] = [];
  const budgets: WorkloadBudget[] = [];
  const configMaps = objects.filter((o) => o.kind === 'ConfigMap');
  const services = objects.filter((o) => o.kind === 'Service');
  const ingresses = objects.filter((o) => o.kind === 'Ingress');
  const hpas = objects.filter((o) => o.kind === 'HorizontalPodAutoscaler');

  for (const w of workloadsOf(objects)) {
    for (const c of w.containers) findings.push(...unknownFields(w, c));
    const selecting = services.filter((s) => selects(s, w));
    findings.push(...publishNotReady(w, selecting));
    findings.push(...rolloutCapacity(w, hpas));

    const picked = pickContainers(w, configMaps, options);
    if (picked.kind === 'ambiguous') {
      findings.push(finding('container-ambiguous', `${w.label} has ${w.containers.length} containers (${w.containers.map((c) => c.name).join(', ')}) and none sets a DRAINKIT_* variable: the budget cannot be checked. Name the one that runs drainkit with --container <name>.`, w.object.at([...w.podSpecPath, 'containers']), w.label));
      continue;
    }
    for (const { container, env, envFindings } of picked.containers) {
      const label = `${w.label}[${container.name}]`;
      findings.push(...envFindings);
      const settings = resolveSettings(label, env, options.overrides ?? {}, w.object.at(container.path));
      findings.push(...settings.findings);
      if (!settings.configured) {
        const o = settings.options;
        findings.push(finding('defaults-assumed', `No DRAINKIT_* variable or doctor flag configures drainkit in ${label}: its defaults are assumed (window ${describeWindow(o.deregister)}, drain timeout ${seconds(o.drainTimeoutMs)}, hooks ${seconds(o.hookTimeoutMs)} each). Set the variables in the manifest (drainerOptionsFromEnv reads them) or pass the values configured in code as flags (${flagForEnv('DRAINKIT_DRAIN_TIMEOUT_MS')}…).`, w.object.at(container.path), label));
      }
      const ctx: ContainerContext = { w, container, label, settings, options, selecting, ingresses, services };
      const budget = graceBudget(ctx, findings);
      const at = w.object.at([]);
      budgets.push({ workload: w.label, container: container.name, file: at.file, line: at.line, template: at.template, budget });
      findings.push(...readinessChecks(ctx), ...entrypoint(ctx), ...otherPreStops(ctx), ...loadBalancer(ctx), ...preStopEndpointExposed(ctx));
    }
  }
  return { findings, budgets };
}

interface ContainerContext {
  readonly w: Workload;
  readonly container: Container;
  readonly label: string;
  readonly settings: DrainkitSettings;
  readonly options: CheckOptions;
  readonly selecting: readonly ManifestObject[];
  readonly ingresses: readonly ManifestObject[];
  readonly services: readonly ManifestObject[];
}

type Picked =
  | { kind: 'ambiguous' }
  | { kind: 'picked'; containers: { container: Container; env: ReturnType<typeof containerDrainkitEnv>['env']; envFindings: Finding[] }[] };

/** The container(s) that run drainkit: `--container`, else those with DRAINKIT_* variables, else the only one. */
function pickContainers(w: Workload, configMaps: readonly ManifestObject[], options: CheckOptions): Picked {
  const withEnv = w.containers.map((container) => ({ container, ...withEnvFindings(containerDrainkitEnv(w.object, container, configMaps)) }));
  if (options.container !== undefined) {
    const named = withEnv.filter((c) => c.container.name === options.container);
    if (named.length > 0) return { kind: 'picked', containers: named };
  }
  const configured = withEnv.filter((c) => c.env.size > 0);
  if (configured.length > 0) return { kind: 'picked', containers: configured };
  if (withEnv.length === 1) return { kind: 'picked', containers: withEnv };
  if (withEnv.length === 0) return { kind: 'picked', containers: [] };
  return { kind: 'ambiguous' };
}

function withEnvFindings(r: ReturnType<typeof containerDrainkitEnv>): { env: ReturnType<typeof containerDrainkitEnv>['env']; envFindings: Finding[] } {
  return { env: r.env, envFindings: r.findings };
}

function describeWindow(d: DrainkitSettings['options']['deregister']): string {
  return d.mode === 'fixed' ? `fixed ${seconds(d.delayMs)}` : `adaptive ${seconds(d.minMs)}–${seconds(d.maxMs)}`;
}

/**
 * The earliest the window can end: a fixed one at its length; an adaptive one with a confirmation
 * source at its minimum (or at its N-th 503 probe and one quiet period), without one (the case on
 * Kubernetes) at its maximum.
 */
function earliestWindowEndMs(d: DrainkitSettings['options']['deregister'], readinessPeriodMs: number | undefined): number {
  if (d.mode === 'fixed') return d.delayMs;
  // Confirmed by traffic, a quiet service's window ends at its minimum.
  if (d.confirm === 'traffic') return d.minMs;
  if (d.probeFailureThreshold === undefined) return d.maxMs;
  // Counted probes: the first may come at once, the N-th one N − 1 periods later; then the quiet period.
  return Math.min(d.maxMs, Math.max(d.minMs, (d.probeFailureThreshold - 1) * (readinessPeriodMs ?? 0) + d.quietMs));
}

function windowMaxMs(d: DrainkitSettings['options']['deregister']): number {
  return d.mode === 'fixed' ? d.delayMs : d.maxMs;
}

function sourceText(ctx: ContainerContext, ...names: EnvOptionName[]): string {
  for (const name of names) {
    const s = ctx.settings.source(name);
    if (s.from === 'env') return `${name} (${s.via ? `${s.via}, ` : ''}line ${s.location.line})`;
    if (s.from === 'flag') return `flag ${flagForEnv(name)}`;
  }
  return 'drainkit default';
}

function manifestSource(object: ManifestObject, path: readonly PathSegment[], from: 'manifest' | 'default', what: string): string {
  return from === 'manifest' ? `${what} (line ${object.at(path).line})` : `${what} (Kubernetes default)`;
}

/**
 * The preStop hook as the budget counts it. A call to drainkit's own preStop endpoint is the
 * window itself (it starts the drain and answers when the window is over), so it adds nothing;
 * one that drainkit refuses fails at once, and the window then starts with SIGTERM.
 */
type HookTiming =
  | { readonly kind: 'none' }
  | { readonly kind: 'sleep'; readonly ms: number; readonly how: string }
  | { readonly kind: 'endpoint'; readonly refused: EndpointRefusal | undefined }
  | { readonly kind: 'unknown'; readonly what: string };

/** Why drainkit would refuse the kubelet's call to its preStop endpoint. */
interface EndpointRefusal {
  readonly status: 403 | 404;
  readonly reason: string;
}

function hookTiming(ctx: ContainerContext, p: PreStop): HookTiming {
  if (p.kind === 'none') return p;
  if (p.kind === 'sleep') return { kind: 'sleep', ms: Math.round(p.seconds * 1_000), how: p.how };
  if (p.kind === 'unknown') return p;
  const health = ctx.settings.options.health;
  const endpoint = health === false ? undefined : health.preStopPath;
  const path = p.path.split('?')[0];
  if (endpoint === undefined || path !== endpoint || health === false) {
    const why = endpoint === undefined ? 'drainkit\'s preStop endpoint is not configured (DRAINKIT_PRESTOP_PATH, or the doctor flag --prestop-path when set in code)' : `drainkit's preStop path is ${endpoint}`;
    return { kind: 'unknown', what: `an httpGet to ${p.path} (${why})` };
  }
  const ports = containerPorts(ctx.container);
  const port = typeof p.port === 'number' ? p.port : p.port === undefined ? undefined : (ports.byName.get(p.port) ?? (/^\d+$/.test(p.port) ? Number(p.port) : undefined));
  const onHealthPort = health.port !== undefined && port === health.port;
  const header = p.headers.find((h) => h.name.toLowerCase() === PRESTOP_HEADER);
  const tokenSource = ctx.settings.source('DRAINKIT_PRESTOP_TOKEN');
  const tokenSet = tokenSource.from !== 'default';
  // Comparable only when the manifest (or a flag) holds the token itself, not a Secret reference.
  const knownToken = tokenSource.from === 'flag' || (tokenSource.from === 'env' && !tokenSource.via?.startsWith('Secret')) ? health.preStopToken : undefined;
  let refused: EndpointRefusal | undefined;
  if (tokenSet && header === undefined) refused = { status: 403, reason: `drainkit requires the ${PRESTOP_HEADER} header (DRAINKIT_PRESTOP_TOKEN is set) and the hook sends no such httpHeaders entry` };
  else if (knownToken !== undefined && header !== undefined && header.value !== knownToken) refused = { status: 403, reason: `the hook's ${PRESTOP_HEADER} header is not the value of DRAINKIT_PRESTOP_TOKEN` };
  else if (!tokenSet && !onHealthPort) {
    refused = { status: 404, reason: `the hook calls port ${String(p.port ?? '?')}, the main service port${health.port === undefined ? ' (no DRAINKIT_HEALTH_PORT is set)' : `, not the health port ${health.port}`}, and without DRAINKIT_PRESTOP_TOKEN drainkit does not serve the preStop path there: the balancer forwards that port, so any client could drain the pod` };
  }
  return { kind: 'endpoint', refused };
}

function preStopSource(h: HookTiming, line: number): string {
  switch (h.kind) {
    case 'none': return 'no preStop';
    case 'sleep': return `${h.how} (line ${line})`;
    case 'endpoint': return h.refused === undefined
      ? `httpGet to drainkit's preStop endpoint (line ${line}): the kubelet's wait is the window, counted once`
      : `httpGet that drainkit refuses with ${h.refused.status} (line ${line}): it fails at once and the window starts with SIGTERM`;
    case 'unknown': return `unknown: ${h.what}, assumed the whole grace (line ${line})`;
  }
}

function preStopMs(h: HookTiming, graceMs: number): number {
  if (h.kind === 'sleep') return h.ms;
  if (h.kind === 'unknown') return graceMs;
  return 0;
}

/** `grace-budget`, `prestop-eats-grace`, `prestop-duration-unknown`, `prestop-and-window`. */
function graceBudget(ctx: ContainerContext, findings: Finding[]): Budget {
  const { w, container, label, settings } = ctx;
  const o = settings.options;
  const gracePath = [...w.podSpecPath, 'terminationGracePeriodSeconds'];
  const grace = sourcedNumber(w.object, gracePath, K8S_DEFAULTS.terminationGracePeriodSeconds);
  const graceMs = grace.value * 1_000;
  const preStop = hookTiming(ctx, preStopOf(container));
  const preStopPath = [...container.path, 'lifecycle', 'preStop'];
  const p = preStopMs(preStop, graceMs);
  const hooksMs = ctx.options.hooksMs ?? o.hookTimeoutMs;
  const windowMs = windowMaxMs(o.deregister);
  const windowNames: EnvOptionName[] = o.deregister.mode === 'fixed' ? ['DRAINKIT_DEREGISTER_DELAY_MS', 'DRAINKIT_DEREGISTER_MODE'] : ['DRAINKIT_DEREGISTER_MAX_MS', 'DRAINKIT_DEREGISTER_MODE'];
  const sources: Partial<Record<BudgetTermName, string>> = {
    preStop: preStopSource(preStop, w.object.at(preStopPath).line),
    window: `${describeWindow(o.deregister)}: ${sourceText(ctx, ...windowNames)}`,
    drain: sourceText(ctx, 'DRAINKIT_DRAIN_TIMEOUT_MS'),
    hooks: ctx.options.hooksMs !== undefined ? 'flag --hooks-ms' : `one hook bounded by ${sourceText(ctx, 'DRAINKIT_HOOK_TIMEOUT_MS').replace(/^drainkit default$/, 'the hook timeout (drainkit default)')}; --hooks-ms sets the total of yours`,
    exit: sourceText(ctx, 'DRAINKIT_EXIT_GRACE_MS'),
    ...(ctx.options.marginMs !== undefined && { margin: 'flag --margin-ms' }),
  };
  const budget = evaluateBudget({
    graceMs,
    graceSource: manifestSource(w.object, gracePath, grace.from, 'terminationGracePeriodSeconds'),
    preStopMs: p,
    windowMaxMs: windowMs,
    drainTimeoutMs: o.drainTimeoutMs,
    hooksMs,
    exitGraceMs: o.exitGraceMs,
    marginMs: ctx.options.marginMs,
    sources,
  });
  const graceAt = w.object.at(grace.from === 'manifest' ? gracePath : w.podSpecPath);

  if (preStop.kind === 'unknown') {
    findings.push(finding('prestop-duration-unknown', `${label}: the preStop hook is ${preStop.what}; its duration cannot be read, so the budget assumes it may take the whole grace of ${seconds(graceMs)}. Use lifecycle.preStop.sleep.seconds (or exec ["sleep", "N"]) so the wait is known, or remove it: drainkit's window keeps serving while readiness answers 503.`, w.object.at(preStopPath), label));
  } else if (preStop.kind === 'endpoint' && preStop.refused !== undefined) {
    const health = o.health === false ? undefined : o.health;
    findings.push(finding('prestop-endpoint-unprotected', `${label}: the preStop httpGet to drainkit's preStop path ${health?.preStopPath ?? ''} is refused with ${preStop.refused.status}: ${preStop.refused.reason}. The hook fails, the kubelet sends SIGTERM at once, and the window starts only then. Fix: call the dedicated health port (DRAINKIT_HEALTH_PORT, not exposed by the Service), or set DRAINKIT_PRESTOP_TOKEN (from a Secret) and send it with httpHeaders: [{ name: ${PRESTOP_HEADER}, value: <the secret> }].`, w.object.at(preStopPath), label));
  } else if (preStop.kind === 'sleep' && p >= graceMs - 2_000) {
    const marginMs = budget.terms.find((t) => t.name === 'margin')?.ms ?? 0;
    const fitMs = graceMs - windowMs - o.drainTimeoutMs - hooksMs - o.exitGraceMs - marginMs;
    // When even a sleep of 0 does not fit, "shorten it to 0–0 s" is no advice: say what does.
    const fix = fitMs > 0
      ? `Shorten the sleep to at most ${seconds(fitMs)} or raise terminationGracePeriodSeconds.`
      : `No sleep fits this grace: remove it (drainkit's window keeps serving while readiness answers 503) and raise terminationGracePeriodSeconds to ${fittingGraceSeconds(termsMs(budget) - p, ctx.options.marginMs)} or more, or lower the drain timeout or the window.`;
    findings.push(finding('prestop-eats-grace', `${label}: preStop sleeps ${seconds(p)} of a ${seconds(graceMs)} grace: SIGTERM comes with about 2 s left (the kubelet's floor), so drainkit never gets to drain. ${fix}`, w.object.at(preStopPath), label));
  }
  if (!budget.fits) {
    const parts = budget.terms.map((t) => `${t.name} ${seconds(t.ms)}`).join(' + ');
    const neededS = fittingGraceSeconds(termsMs(budget), ctx.options.marginMs);
    // An unreadable preStop counts as the whole grace, whatever the grace: raising it never fits.
    const fixes = preStop.kind === 'unknown'
      ? [`the preStop's duration cannot be read, so it counts as the whole grace and no grace fits: give it a known duration N (lifecycle.preStop.sleep.seconds, or exec ["sleep", "N"]) and set terminationGracePeriodSeconds to N + ${fittingGraceSeconds(termsMs(budget) - p, ctx.options.marginMs)} or more, or remove it`]
      : [`set terminationGracePeriodSeconds: ${neededS} (or more)`];
    if (preStop.kind === 'sleep' && p > 0) fixes.push(`shorten the preStop sleep (${seconds(p)}): drainkit's window already keeps serving while readiness answers 503`);
    fixes.push(`or lower the drain timeout (${seconds(o.drainTimeoutMs)}, DRAINKIT_DRAIN_TIMEOUT_MS) or the window maximum (${seconds(windowMs)})`);
    findings.push(finding('grace-budget', `${label}: grace ${seconds(graceMs)} < ${parts} = ${seconds(budget.totalMs)}: the kubelet SIGKILLs at ${seconds(graceMs)}, ${seconds(budget.totalMs - graceMs)} before the drain's bound. Fix: ${fixes.join('; ')}.`, graceAt, label));
  }
  const lag = windowBelowLag(ctx, preStop.kind === 'sleep' ? p : 0, budget);
  if (lag) findings.push(lag);
  if (preStop.kind === 'sleep' && p > 0) findings.push(endpointRecommendation(ctx, p, budget, w.object.at(preStopPath)));
  if (preStop.kind === 'sleep' && p > 0 && windowMs > 0) {
    findings.push(finding('prestop-and-window', `${label}: the pod keeps serving for the preStop sleep ${seconds(p)} and then for drainkit's window (up to ${seconds(windowMs)}): ${seconds(p + windowMs)} in all, and during the sleep drainkit does not know yet (readiness still 200, no Connection: close). Prefer one of the two: drop the sleep and size the window (${o.deregister.mode === 'fixed' ? 'DRAINKIT_DEREGISTER_DELAY_MS' : 'DRAINKIT_DEREGISTER_MAX_MS'}) for your endpoint lag plus its margin (${lagNeed(ctx)}), or shorten the sleep.`, w.object.at(preStopPath), label));
  }
  return budget;
}

/** `1st`, `2nd`, `3rd`, `4th`… (thresholds go up to 100). */
function ordinal(n: number): string {
  const teen = n % 100 >= 11 && n % 100 <= 13;
  const suffix = teen ? 'th' : ({ 1: 'st', 2: 'nd', 3: 'rd' } as Record<number, string>)[n % 10] ?? 'th';
  return `${n}${suffix}`;
}

/** The budget's terms without its margin. */
function termsMs(budget: Budget): number {
  return budget.terms.filter((t) => t.name !== 'margin').reduce((sum, t) => sum + t.ms, 0);
}

/** The endpoint lag and the margin above it that the lag check asks, from the flags or their defaults. */
function lagAndMargin(ctx: ContainerContext): { lagMs: number; marginMs: number } {
  const lagMs = ctx.options.endpointLagMs ?? ENDPOINT_LAG_DEFAULT_MS;
  return { lagMs, marginMs: ctx.options.lagMarginMs ?? defaultLagMarginMs(lagMs) };
}

/** `2 s + 1 s = 3 s`: the endpoint lag, its margin and their sum, as the lag check counts them. */
function lagNeed(ctx: ContainerContext): string {
  const { lagMs, marginMs } = lagAndMargin(ctx);
  return `${seconds(lagMs)} + ${seconds(marginMs)} = ${seconds(lagMs + marginMs)}`;
}

/**
 * `window-below-lag`: the pod keeps accepting new connections for the preStop sleep and then the
 * window (its earliest end); every consumer of its endpoints must have stopped routing to it by
 * then, with a margin (see {@link defaultLagMarginMs}), or connections to the closed listener are
 * refused. For a deletion the endpoints turn not-ready at once, so the lag is the consumers'
 * propagation alone, not readiness probing.
 */
function windowBelowLag(ctx: ContainerContext, sleepMs: number, budget: Budget): Finding | undefined {
  const { w, container, label, settings } = ctx;
  const d = settings.options.deregister;
  const { lagMs, marginMs } = lagAndMargin(ctx);
  const readiness = probeOf(container, 'readinessProbe');
  const windowEndMs = earliestWindowEndMs(d, readiness === undefined ? undefined : readiness.periodSeconds * 1_000);
  const servingMs = sleepMs + windowEndMs;
  const neededMs = lagMs + marginMs;
  if (servingMs >= neededMs) return undefined;
  const lagFrom = ctx.options.endpointLagMs === undefined ? 'assumed for in-cluster kube-proxy; ingress-nginx takes seconds, cloud balancers tens of seconds: pass --endpoint-lag-ms' : 'flag --endpoint-lag-ms';
  const marginFrom = ctx.options.lagMarginMs === undefined ? '1 s or a quarter of the lag, for a consumer a sync period slower than that; --lag-margin-ms' : 'flag --lag-margin-ms';
  const how = d.mode === 'adaptive' && d.confirm !== 'traffic' && d.probeFailureThreshold !== undefined
    ? `: the ${ordinal(d.probeFailureThreshold)} 503 probe${readiness === undefined ? '' : ` (one every ${readiness.periodSeconds} s)`}, then ${seconds(d.quietMs)} quiet`
    : '';
  const windowText = d.mode === 'fixed' ? `window ${describeWindow(d)}` : `window ${describeWindow(d)}, which ends as early as ${seconds(windowEndMs)}${how}`;
  const serving = `the pod stops accepting new connections ${seconds(servingMs)} after its deletion (${sleepMs > 0 ? `preStop sleep ${seconds(sleepMs)} + ` : ''}${windowText})`;
  const problem = servingMs < lagMs
    ? `${serving}, but its endpoints' consumers take up to ${seconds(lagMs)} to stop routing (${lagFrom}): connections in the ${seconds(lagMs - servingMs)} between are refused`
    : `${serving}, ${servingMs === lagMs ? `exactly when its endpoints' consumers stop routing (${seconds(lagMs)}, ${lagFrom})` : `only ${seconds(servingMs - lagMs)} after the ${seconds(lagMs)} its endpoints' consumers take to stop routing (${lagFrom})`}; the margin is ${seconds(marginMs)} (${marginFrom}): a consumer slower than the estimate gets connections refused`;
  // The window that keeps the pod accepting until lag + margin, named by the variable that sets its earliest end.
  const windowMs = neededMs - sleepMs;
  let fix: string;
  let newMaxMs: number;
  if (d.mode === 'fixed') {
    fix = `DRAINKIT_DEREGISTER_DELAY_MS=${windowMs}`;
    newMaxMs = windowMs;
  } else if (d.confirm !== 'traffic' && d.probeFailureThreshold === undefined) {
    // Nothing can confirm this adaptive window on Kubernetes: it always runs to its maximum.
    fix = `DRAINKIT_DEREGISTER_MAX_MS=${windowMs} (nothing confirms this adaptive window, so it runs to its maximum)`;
    newMaxMs = windowMs;
  } else {
    newMaxMs = Math.max(d.maxMs, windowMs);
    fix = `DRAINKIT_DEREGISTER_MIN_MS=${windowMs}${d.maxMs < windowMs ? ` and DRAINKIT_DEREGISTER_MAX_MS=${windowMs} (the maximum bounds it)` : ''}`;
  }
  const maxMs = windowMaxMs(d);
  const graceS = fittingGraceSeconds(termsMs(budget) + Math.max(0, newMaxMs - maxMs), ctx.options.marginMs);
  // Only when the longer window grows the budget: a grace that is short already is grace-budget's finding.
  const grace = newMaxMs > maxMs && graceS * 1_000 > budget.graceMs ? `, and raise terminationGracePeriodSeconds to ${graceS} to keep the drain inside the grace` : '';
  return finding('window-below-lag', `${label}: ${problem}. Keep accepting until ${seconds(lagMs)} + ${seconds(marginMs)} = ${seconds(neededMs)}: set ${fix}${grace}.`, w.object.at(container.path), label);
}

/**
 * `prestop-sleep-to-endpoint`: a sleep keeps the pod serving while drainkit does not know yet;
 * drainkit's preStop endpoint starts the window at the deletion instead, and the kubelet waits
 * for it, so the sleep's time leaves the budget. The snippet is the hook to paste, on the health
 * port when there is one, else on the main port behind the secret header.
 */
function endpointRecommendation(ctx: ContainerContext, sleepMs: number, budget: Budget, at: Location): Finding {
  const { label, settings } = ctx;
  const health = settings.options.health === false ? undefined : settings.options.health;
  const path = health?.preStopPath ?? '/prestop';
  const ports = containerPorts(ctx.container);
  const mainPort = [...ports.byName.keys()][0] ?? ports.numbers[0] ?? '<port>';
  const env: string[] = [];
  if (health?.preStopPath === undefined) env.push(`DRAINKIT_PRESTOP_PATH=${path}`);
  let hook: string;
  if (health?.port !== undefined) {
    const tokenSet = settings.source('DRAINKIT_PRESTOP_TOKEN').from !== 'default';
    hook = `lifecycle: { preStop: { httpGet: { path: ${path}, port: ${health.port}${tokenSet ? `, httpHeaders: [{ name: ${PRESTOP_HEADER}, value: <DRAINKIT_PRESTOP_TOKEN> }]` : ''} } } } (the health port, DRAINKIT_HEALTH_PORT, which the Service does not expose${tokenSet ? '' : `; add httpHeaders: [{ name: ${PRESTOP_HEADER}, value: <secret> }] only if you also set DRAINKIT_PRESTOP_TOKEN`})`;
  } else {
    if (settings.source('DRAINKIT_PRESTOP_TOKEN').from === 'default') env.push('DRAINKIT_PRESTOP_TOKEN from a Secret (16 to 256 visible ASCII characters)');
    hook = `lifecycle: { preStop: { httpGet: { path: ${path}, port: ${mainPort}, httpHeaders: [{ name: ${PRESTOP_HEADER}, value: <DRAINKIT_PRESTOP_TOKEN> }] } } } (the main port needs the secret header, or any client could drain the pod through the balancer; or set DRAINKIT_HEALTH_PORT and call that port without it)`;
  }
  const withoutSleep = budget.totalMs - sleepMs;
  return finding('prestop-sleep-to-endpoint', `${label}: the preStop sleep ${seconds(sleepMs)} keeps the pod serving while drainkit does not know of the deletion yet. drainkit's preStop endpoint starts the drain at the deletion (readiness 503 at once, Connection: close) and answers when the window is over, so the kubelet's wait and the window are one interval and the budget drops from ${seconds(budget.totalMs)} to ${seconds(withoutSleep)}. Replace the sleep with ${hook}${env.length > 0 ? `, and set ${env.join(' and ')}` : ''}. Keep the window (${describeWindow(settings.options.deregister)}) at least your endpoint lag plus its margin (${lagNeed(ctx)}).`, at, label);
}

/** `readiness-missing`, `readiness-wrong-endpoint`, `liveness-is-readiness`, `probe-threshold-mismatch`. */
function readinessChecks(ctx: ContainerContext): Finding[] {
  const { w, container, label, settings } = ctx;
  const out: Finding[] = [];
  const health = settings.options.health;
  if (health === false) return out;
  const readiness = probeOf(container, 'readinessProbe');
  const liveness = probeOf(container, 'livenessProbe');
  const ports = containerPorts(container);
  const portOf = (p: Probe): number | undefined => (typeof p.port === 'number' ? p.port : p.port === undefined ? undefined : (ports.byName.get(p.port) ?? (/^\d+$/.test(p.port) ? Number(p.port) : undefined)));
  const expectedPort = health.port;
  const where = expectedPort !== undefined ? `port ${expectedPort} (${sourceText(ctx, 'DRAINKIT_HEALTH_PORT')})` : ports.numbers.length > 0 ? `one of the container's ports (${ports.numbers.join(', ')})` : 'the app\'s port';

  // A Job or CronJob that no Service selects takes no traffic: there is no readiness to report.
  const batch = w.object.kind === 'Job' || w.object.kind === 'CronJob';
  if (!readiness && batch && ctx.selecting.length === 0) {
    // nothing to check
  } else if (!readiness) {
    out.push(finding('readiness-missing', `${label} has no readinessProbe: drainkit's readiness 503 is never seen by Kubernetes (the pod stays "serving") and balancers that probe the pod keep routing. Add readinessProbe: { httpGet: { path: ${health.readinessPath}, port: ${expectedPort ?? ports.numbers[0] ?? '<port>'} }, periodSeconds: 2, failureThreshold: 1 }.`, w.object.at(container.path), label));
  } else {
    const port = portOf(readiness);
    const pathOk = readiness.handler === 'httpGet' && (readiness.httpPath ?? '/').split('?')[0] === health.readinessPath;
    // Without DRAINKIT_HEALTH_PORT drainkit answers on the app's port: one of the declared ports.
    // Only a container that declares none leaves a number unverifiable (said in a note below).
    const portOk = readiness.handler === 'httpGet' && (expectedPort !== undefined ? port === expectedPort : ports.numbers.length === 0 || (port !== undefined && ports.numbers.includes(port)));
    if (pathOk && portOk && expectedPort === undefined && ports.numbers.length === 0 && typeof readiness.port === 'number') {
      out.push({
        ...finding('readiness-wrong-endpoint', `${label}: the readiness probe hits port ${readiness.port}, and the container declares no ports, so the doctor cannot check that drainkit's server listens there. Declare it (ports: [{ name: http, containerPort: ${readiness.port} }]) and probe it by name.`, w.object.at(readiness.path), label),
        severity: 'note',
      });
    }
    if (!pathOk || !portOk) {
      const got = readiness.handler === 'httpGet' ? `httpGet ${readiness.httpPath ?? '/'} on port ${String(readiness.port ?? '?')}` : `a ${readiness.handler} probe`;
      out.push(finding('readiness-wrong-endpoint', `${label}: the readiness probe is ${got}, but drainkit answers readiness on ${health.readinessPath} (${sourceText(ctx, 'DRAINKIT_READINESS_PATH')}) at ${where}: its 503 during a drain is never seen. Probe httpGet ${health.readinessPath} on ${expectedPort ?? ports.numbers[0] ?? 'the app port'}.`, w.object.at(readiness.path), label));
    }
    const d = settings.options.deregister;
    if (d.mode === 'adaptive' && d.probeFailureThreshold !== undefined) {
      const detectionMs = (readiness.failureThreshold * readiness.periodSeconds + readiness.timeoutSeconds) * 1_000;
      if (d.probeFailureThreshold !== readiness.failureThreshold) {
        out.push(finding('probe-threshold-mismatch', `${label}: the adaptive window counts ${d.probeFailureThreshold} readiness 503s as confirmation (${sourceText(ctx, 'DRAINKIT_PROBE_FAILURE_THRESHOLD')}), but the readiness probe's failureThreshold is ${readiness.failureThreshold}: the window ends ${d.probeFailureThreshold < readiness.failureThreshold ? 'before Kubernetes marks the pod not serving' : 'later than needed'}. Set DRAINKIT_PROBE_FAILURE_THRESHOLD=${readiness.failureThreshold}.`, w.object.at([...readiness.path, 'failureThreshold']), label));
      } else if (d.maxMs < detectionMs) {
        out.push(finding('probe-threshold-mismatch', `${label}: ${readiness.failureThreshold} failed probes every ${readiness.periodSeconds} s (timeout ${readiness.timeoutSeconds} s) take up to ${seconds(detectionMs)}, but the window's maximum is ${seconds(d.maxMs)} (${sourceText(ctx, 'DRAINKIT_DEREGISTER_MAX_MS')}): it ends first, unconfirmed. Raise DRAINKIT_DEREGISTER_MAX_MS to ${detectionMs} or probe more often.`, w.object.at(readiness.path), label));
      }
    }
  }
  if (liveness) {
    const lPort = portOf(liveness);
    const hitsReadiness = liveness.handler === 'httpGet' && (liveness.httpPath ?? '/').split('?')[0] === health.readinessPath && (expectedPort === undefined || lPort === expectedPort || readiness === undefined || lPort === (readiness ? portOf(readiness) : undefined));
    const identical = readiness !== undefined && sameHandler(readiness, liveness, portOf);
    if (hitsReadiness || identical) {
      out.push(finding('liveness-is-readiness', `${label}: the liveness probe ${hitsReadiness ? `hits drainkit's readiness path ${health.readinessPath}` : 'uses the same handler as the readiness probe'}: during a drain that is not a pod deletion (a remote drain, a node shutdown) readiness answers 503 and the kubelet restarts the container mid-drain. Probe ${health.livenessPath} (${sourceText(ctx, 'DRAINKIT_LIVENESS_PATH')}), which stays 200 until exit.`, w.object.at(liveness.path), label));
    }
  }
  return out;
}

function sameHandler(a: Probe, b: Probe, portOf: (p: Probe) => number | undefined): boolean {
  if (a.handler !== b.handler) return false;
  if (a.handler === 'httpGet') return a.httpPath === b.httpPath && portOf(a) === portOf(b);
  if (a.handler === 'exec') return JSON.stringify(a.command) === JSON.stringify(b.command);
  return portOf(a) === portOf(b);
}

const SHELL = /(^|\/)(ba|da|a|z|k)?sh$/;
const PACKAGE_RUNNER = /(^|\/)(npm|npx|yarn|pnpm|pnpx|bunx)$/;
/** `-c`, or combined short flags that hold c (`-lc`, `-ec`): the shell runs the next word as a script. */
const SCRIPT_FLAG = /^-[a-zA-Z]*c[a-zA-Z]*$/;

/** argv without a leading `env` and its options and `NAME=value` assignments (`/usr/bin/env sh -c …`). */
function withoutEnv(argv: readonly string[]): { argv: readonly string[]; skipped: number } {
  if (argv.length === 0 || !/(^|\/)env$/.test(argv[0]!)) return { argv, skipped: 0 };
  let i = 1;
  while (i < argv.length && (argv[i]!.startsWith('-') || /^[A-Za-z_][A-Za-z0-9_]*=/.test(argv[i]!))) i += 1;
  return { argv: argv.slice(i), skipped: i };
}

/**
 * `shell-entrypoint`: a shell that runs a script without `exec` (`sh -c "node server.js"`,
 * `bash -lc …`, behind `env`, with `-c` in args), and npm/npx/yarn as PID 1, may not pass SIGTERM
 * on. A shell that runs a script file (`sh /app/entrypoint.sh`) is a note: the doctor cannot read
 * the script, which must `exec node …`.
 */
function entrypoint(ctx: ContainerContext): Finding[] {
  const { w, container, label } = ctx;
  const command = Array.isArray(container.spec.command) ? (container.spec.command as unknown[]).filter((x): x is string => typeof x === 'string') : [];
  const args = Array.isArray(container.spec.args) ? (container.spec.args as unknown[]).filter((x): x is string => typeof x === 'string') : [];
  const full = command.length > 0 ? [...command, ...args] : [];
  if (full.length === 0) return [];
  const { argv, skipped } = withoutEnv(full);
  if (argv.length === 0) return [];
  // Point at args when the word that matters came from there (command: [sh], args: [-c, …]).
  const atWord = (i: number): Location => w.object.at([...container.path, skipped + i >= command.length && args.length > 0 ? 'args' : 'command']);
  const shown = JSON.stringify(full.join(' ').slice(0, 80));
  if (SHELL.test(argv[0]!)) {
    const c = argv.findIndex((a, i) => i > 0 && SCRIPT_FLAG.test(a));
    if (c >= 0) {
      const script = argv[c + 1] ?? '';
      if (/^\s*exec\s/.test(script)) return [];
      return [finding('shell-entrypoint', `${label} runs ${shown}: the shell is PID 1 and does not forward SIGTERM to the app, which never drains and is SIGKILLed when the grace ends. Start the script with exec (sh -c "exec node server.js") or run node directly (command: ["node", "server.js"]).`, atWord(c), label)];
    }
    const file = argv.slice(1).find((a) => !a.startsWith('-'));
    if (file !== undefined) {
      return [{
        ...finding('shell-entrypoint', `${label} runs the script ${JSON.stringify(file)} with ${argv[0]}: the shell is PID 1 until the script execs the app, and the doctor cannot read the script. Make its last line \`exec node server.js\` (exec replaces the shell, so SIGTERM reaches node), or run node directly (command: ["node", "server.js"]).`, atWord(argv.indexOf(file)), label),
        severity: 'note',
      }];
    }
    return [];
  }
  if (PACKAGE_RUNNER.test(argv[0]!)) {
    return [finding('shell-entrypoint', `${label} runs ${shown}: the package manager is PID 1 and may not forward SIGTERM to the app (and runs the script through a shell). Run node directly: command: ["node", "server.js"] (for TypeScript, compile it, or ["node", "--import", "tsx", "server.ts"]).`, atWord(0), label)];
  }
  return [];
}

/**
 * `prestop-endpoint-exposed`: without DRAINKIT_PRESTOP_TOKEN, drainkit serves its preStop endpoint
 * on the health port only, because the Service does not forward that port. A Service whose
 * targetPort is the health port forwards it, and any client can then drain the pods.
 */
function preStopEndpointExposed(ctx: ContainerContext): Finding[] {
  const { label, settings, selecting, container } = ctx;
  const health = settings.options.health;
  if (health === false || health.port === undefined || health.preStopPath === undefined) return [];
  if (settings.source('DRAINKIT_PRESTOP_TOKEN').from !== 'default') return [];
  const ports = containerPorts(container);
  const out: Finding[] = [];
  for (const service of selecting) {
    const servicePorts = get(service.value, ['spec', 'ports']);
    for (const [i, sp] of (Array.isArray(servicePorts) ? servicePorts : []).entries()) {
      const r = rec(sp);
      const target: unknown = r?.targetPort ?? r?.port;
      const resolved = typeof target === 'number' ? target : typeof target === 'string' ? (ports.byName.get(target) ?? (/^\d+$/.test(target) ? Number(target) : undefined)) : undefined;
      if (resolved !== health.port) continue;
      out.push(finding('prestop-endpoint-exposed', `Service/${service.name} forwards port ${typeof r?.port === 'number' ? r.port : '?'} to ${label}'s health port ${health.port} (targetPort ${typeof target === 'number' || typeof target === 'string' ? target : '?'}), where drainkit serves its preStop endpoint ${health.preStopPath} without a token (no DRAINKIT_PRESTOP_TOKEN): any client of the Service can drain the pods, one request each. Remove that port from the Service (the kubelet reaches the health port without it), or set DRAINKIT_PRESTOP_TOKEN from a Secret and send it in the hook's httpHeaders (${PRESTOP_HEADER}).`, service.at(['spec', 'ports', i]), label));
    }
  }
  return out;
}

/** `prestop-other-container`. */
function otherPreStops(ctx: ContainerContext): Finding[] {
  const { w, container, label } = ctx;
  return w.containers
    .filter((c) => c !== container && preStopOf(c).kind !== 'none')
    .map((c) => finding('prestop-other-container', `${w.label}: container "${c.name}" has a preStop hook but drainkit runs in "${container.name}": the kubelet runs preStop hooks per container, in parallel, so it does not delay SIGTERM to "${container.name}". Move it to "${container.name}" (or drop it: drainkit's window keeps serving while readiness answers 503).`, w.object.at([...c.path, 'lifecycle', 'preStop']), label));
}

/** Services that select the pod template (same namespace, every selector label matches). */
function selects(service: ManifestObject, w: Workload): boolean {
  const selector = rec(get(service.value, ['spec', 'selector']));
  if (!selector || Object.keys(selector).length === 0) return false;
  if ((service.namespace ?? 'default') !== (w.object.namespace ?? 'default')) return false;
  return Object.entries(selector).every(([k, v]) => w.podLabels[k] === v);
}

/** `publish-not-ready`. */
function publishNotReady(w: Workload, selecting: readonly ManifestObject[]): Finding[] {
  return selecting
    .filter((s) => get(s.value, ['spec', 'publishNotReadyAddresses']) === true)
    .map((s) => finding('publish-not-ready', `Service/${s.name} selects ${w.label} and sets publishNotReadyAddresses: true: its terminating and unready endpoints stay ready:true, so neither the deletion nor drainkit's readiness 503 stops traffic; only the pod's removal does. Drop it (or use a separate headless Service for peer discovery).`, s.at(['spec', 'publishNotReadyAddresses']), w.label));
}

/** `rollout-capacity`: a rollout must not take the only replica out before its replacement is ready. */
function rolloutCapacity(w: Workload, hpas: readonly ManifestObject[]): Finding[] {
  if (w.object.kind !== 'Deployment' && w.object.kind !== 'StatefulSet') return [];
  const o = w.object;
  const hpa = hpas.find((h) => get(h.value, ['spec', 'scaleTargetRef', 'kind']) === o.kind && get(h.value, ['spec', 'scaleTargetRef', 'name']) === o.name);
  const replicasField = get(o.value, ['spec', 'replicas']);
  const hpaMin = hpa ? get(hpa.value, ['spec', 'minReplicas']) : undefined;
  const replicas = typeof hpaMin === 'number' ? hpaMin : hpa ? 1 : typeof replicasField === 'number' ? replicasField : K8S_DEFAULTS.replicas;
  const replicasText = typeof hpaMin === 'number' || hpa ? `${replicas} (HorizontalPodAutoscaler/${hpa!.name} minReplicas)` : typeof replicasField === 'number' ? String(replicas) : `${replicas} (replicas not set)`;
  const make = (severity: Severity, message: string, path: readonly PathSegment[]): Finding => ({ ...finding('rollout-capacity', message, o.at(path), w.label), severity });
  if (o.kind === 'StatefulSet') {
    return replicas === 1 ? [make('warning', `${w.label} has ${replicasText} replica: a StatefulSet update deletes the pod before its replacement exists, so the service has no ready pod while it drains and restarts. Run at least 2 replicas.`, ['spec', 'replicas'])] : [];
  }
  const strategy = rec(get(o.value, ['spec', 'strategy'])) ?? {};
  if (strategy.type === 'Recreate') {
    return [make('warning', `${w.label} uses strategy Recreate: every old pod drains before any new pod starts, so the service has no ready pod during a rollout. Use RollingUpdate with maxUnavailable: 0 and maxSurge: 1.`, ['spec', 'strategy', 'type'])];
  }
  const ru = rec(strategy.rollingUpdate) ?? {};
  const maxUnavailable = scaledIntOrPercent(ru.maxUnavailable ?? K8S_DEFAULTS.maxUnavailable, replicas, 'down');
  const maxSurge = scaledIntOrPercent(ru.maxSurge ?? K8S_DEFAULTS.maxSurge, replicas, 'up');
  if (maxUnavailable === undefined || maxSurge === undefined) return [];
  const ruPath = ['spec', 'strategy', 'rollingUpdate'];
  if (replicas === 1 && maxUnavailable >= 1) {
    return [make('error', `${w.label} has ${replicasText} replica and maxUnavailable ${String(ru.maxUnavailable)} (= ${maxUnavailable} pod): a rollout takes the only pod out before its replacement is ready. Set maxUnavailable: 0 and maxSurge: 1, or run more replicas.`, ru.maxUnavailable !== undefined ? [...ruPath, 'maxUnavailable'] : ['spec'])];
  }
  if (replicas === 1 && maxSurge === 0) {
    return [make('error', `${w.label} has ${replicasText} replica and maxSurge ${String(ru.maxSurge)}: no replacement can start before the old pod goes. Set maxSurge: 1 and maxUnavailable: 0.`, [...ruPath, 'maxSurge'])];
  }
  if (maxUnavailable >= replicas) {
    return [make('error', `${w.label}: maxUnavailable ${String(ru.maxUnavailable)} (= ${maxUnavailable} pods) is at least its ${replicasText} replicas: a rollout may take every pod out at once. Lower maxUnavailable below ${replicas}.`, [...ruPath, 'maxUnavailable'])];
  }
  return [];
}

/** `k=v,k2=v2` (the AWS load balancer controller's attribute annotations). */
function attribute(text: unknown, key: string): number | undefined {
  if (typeof text !== 'string') return undefined;
  for (const part of text.split(',')) {
    const [k, v] = part.split('=').map((s) => s.trim());
    if (k === key && v !== undefined && /^\d+$/.test(v)) return Number(v);
  }
  return undefined;
}

/** `lb-deregistration-delay` and `keep-alive-below-upstream`, from the Services and Ingresses in front of the pod. */
function loadBalancer(ctx: ContainerContext): Finding[] {
  const { label, settings, selecting } = ctx;
  const out: Finding[] = [];
  const o = settings.options;
  const serviceNames = new Set(selecting.map((s) => s.name));
  const fronting = ctx.ingresses.filter((ing) => ingressBackends(ing).some((n) => serviceNames.has(n)));
  const annotated = [...selecting, ...fronting];
  const windowAndDrain = windowMaxMs(o.deregister) + o.drainTimeoutMs;
  let upstream: { ms: number; where: string; at: ManifestObject | undefined; key: string | undefined } = ctx.options.upstreamIdleTimeoutMs !== undefined
    ? { ms: ctx.options.upstreamIdleTimeoutMs, where: 'flag --upstream-idle-timeout-ms', at: undefined, key: undefined }
    : { ms: UPSTREAM_IDLE_DEFAULT_MS, where: 'assumed: the AWS ALB and ingress-nginx default; pass --upstream-idle-timeout-ms for your balancer', at: undefined, key: undefined };
  for (const obj of annotated) {
    const annotations = rec(get(obj.value, ['metadata', 'annotations'])) ?? {};
    for (const key of [ALB_TG_ATTRIBUTES, NLB_TG_ATTRIBUTES]) {
      const delayS = attribute(annotations[key], 'deregistration_delay.timeout_seconds');
      if (delayS !== undefined && delayS * 1_000 < windowAndDrain) {
        out.push(finding('lb-deregistration-delay', `${obj.kind}/${obj.name}: the target group's deregistration delay is ${delayS} s, shorter than drainkit's window maximum plus drain timeout (${seconds(windowMaxMs(o.deregister))} + ${seconds(o.drainTimeoutMs)} = ${seconds(windowAndDrain)}): the load balancer cuts requests to ${label} that are still draining. Set deregistration_delay.timeout_seconds=${Math.ceil(windowAndDrain / 1_000)} or more (the ALB finishes early once the target is idle, so a long delay costs nothing).`, obj.at(['metadata', 'annotations', key]), label));
      }
    }
    if (ctx.options.upstreamIdleTimeoutMs === undefined) {
      const idleS = attribute(annotations[ALB_LB_ATTRIBUTES], 'idle_timeout.timeout_seconds') ?? (typeof annotations[CLB_IDLE] === 'string' && /^\d+$/.test(annotations[CLB_IDLE]) ? Number(annotations[CLB_IDLE]) : undefined);
      if (idleS !== undefined) upstream = { ms: idleS * 1_000, where: `${obj.kind}/${obj.name} annotation`, at: obj, key: annotations[ALB_LB_ATTRIBUTES] !== undefined ? ALB_LB_ATTRIBUTES : CLB_IDLE };
    }
  }
  if (o.keepAliveTimeoutMs !== null && o.keepAliveTimeoutMs <= upstream.ms) {
    const s = settings.source('DRAINKIT_KEEP_ALIVE_TIMEOUT_MS');
    const at = s.from === 'env' ? s.location : upstream.at && upstream.key ? upstream.at.at(['metadata', 'annotations', upstream.key]) : ctx.w.object.at(ctx.container.path);
    out.push(finding('keep-alive-below-upstream', `${label}: drainkit's keep-alive timeout is ${seconds(o.keepAliveTimeoutMs)} (${sourceText(ctx, 'DRAINKIT_KEEP_ALIVE_TIMEOUT_MS')}), at or below the upstream's idle timeout of ${seconds(upstream.ms)} (${upstream.where}): the upstream reuses connections the app is closing, and those requests fail with 502. Set DRAINKIT_KEEP_ALIVE_TIMEOUT_MS above ${upstream.ms} (e.g. ${upstream.ms + 5_000}).`, at, label));
  }
  return out;
}

function ingressBackends(ing: ManifestObject): string[] {
  const names: string[] = [];
  const def = get(ing.value, ['spec', 'defaultBackend', 'service', 'name']);
  if (typeof def === 'string') names.push(def);
  const rules = get(ing.value, ['spec', 'rules']);
  for (const r of Array.isArray(rules) ? rules : []) {
    const paths = get(r, ['http', 'paths']);
    for (const p of Array.isArray(paths) ? paths : []) {
      const n = get(p, ['backend', 'service', 'name']);
      if (typeof n === 'string') names.push(n);
    }
  }
  return names;
}

const CONTAINER_KEYS = ['name', 'image', 'command', 'args', 'workingDir', 'ports', 'envFrom', 'env', 'resources', 'resizePolicy', 'restartPolicy', 'volumeMounts', 'volumeDevices', 'livenessProbe', 'readinessProbe', 'startupProbe', 'lifecycle', 'terminationMessagePath', 'terminationMessagePolicy', 'imagePullPolicy', 'securityContext', 'stdin', 'stdinOnce', 'tty'];
const LIFECYCLE_KEYS = ['postStart', 'preStop', 'stopSignal'];
const HANDLER_KEYS = ['exec', 'httpGet', 'tcpSocket', 'sleep'];
const PROBE_KEYS = ['exec', 'httpGet', 'tcpSocket', 'grpc', 'initialDelaySeconds', 'timeoutSeconds', 'periodSeconds', 'successThreshold', 'failureThreshold', 'terminationGracePeriodSeconds'];
const HTTP_GET_KEYS = ['path', 'port', 'host', 'scheme', 'httpHeaders'];

/** `unknown-field`: typos under a container, its lifecycle, hooks and probes. */
function unknownFields(w: Workload, c: Container): Finding[] {
  const out: Finding[] = [];
  const label = `${w.label}[${c.name}]`;
  const check = (value: unknown, path: readonly PathSegment[], known: readonly string[], where: string): void => {
    const r = rec(value);
    if (!r) return;
    for (const key of Object.keys(r)) {
      if (known.includes(key)) continue;
      const near = closestWord(key, known);
      out.push(finding('unknown-field', `${label}: unknown field ${where}.${key}${near ? ` (did you mean ${near}?)` : ''}: the API server rejects it ("strict decoding error: unknown field") or, with lax validation, drops it and the setting silently does nothing. Known fields: ${known.join(', ')}.`, w.object.at([...path, key]), label));
    }
  };
  check(c.spec, c.path, CONTAINER_KEYS, 'containers[]');
  const lifecyclePath = [...c.path, 'lifecycle'];
  check(c.spec.lifecycle, lifecyclePath, LIFECYCLE_KEYS, 'lifecycle');
  for (const hook of ['postStart', 'preStop']) {
    const h = get(c.spec, ['lifecycle', hook]);
    check(h, [...lifecyclePath, hook], HANDLER_KEYS, `lifecycle.${hook}`);
    check(rec(h)?.httpGet, [...lifecyclePath, hook, 'httpGet'], HTTP_GET_KEYS, `lifecycle.${hook}.httpGet`);
  }
  for (const probe of ['readinessProbe', 'livenessProbe', 'startupProbe']) {
    check(c.spec[probe], [...c.path, probe], PROBE_KEYS, probe);
    check(rec(c.spec[probe])?.httpGet, [...c.path, probe, 'httpGet'], HTTP_GET_KEYS, `${probe}.httpGet`);
  }
  return out;
}

function closestWord(word: string, known: readonly string[]): string | undefined {
  const lower = word.toLowerCase();
  let best: { w: string; d: number } | undefined;
  for (const k of known) {
    const kl = k.toLowerCase();
    const d = lower.startsWith(kl) || kl.startsWith(lower) ? 1 : levenshtein(lower, kl);
    if (d <= Math.max(2, Math.floor(k.length / 4)) && (!best || d < best.d)) best = { w: k, d };
  }
  return best?.w;
}

function levenshtein(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i += 1) {
    const row = [i];
    for (let j = 1; j <= b.length; j += 1) row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = row;
  }
  return prev[b.length]!;
}

