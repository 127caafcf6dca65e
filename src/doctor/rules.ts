/**
 * The catalogue of `drainkit doctor` checks. Ids are stable (they are what SARIF consumers and
 * suppression lists key on); severities are the default of each rule.
 */

export type Severity = 'error' | 'warning' | 'note';

export interface Rule {
  readonly id: string;
  readonly severity: Severity;
  /** One line: what the rule guards against. */
  readonly summary: string;
}

const RULE_LIST = [
  { id: 'grace-budget', severity: 'error', summary: 'terminationGracePeriodSeconds must exceed preStop + deregistration window maximum + drain timeout + shutdown hooks + exit grace + a margin, or the kubelet SIGKILLs mid-drain.' },
  { id: 'prestop-eats-grace', severity: 'error', summary: 'A preStop hook that takes (nearly) the whole grace period leaves the app about 2 s after SIGTERM: it never drains.' },
  { id: 'prestop-duration-unknown', severity: 'warning', summary: 'The preStop duration cannot be read from the manifest (an exec that is not a plain sleep, an httpGet that is not drainkit\'s preStop endpoint): the budget assumes it may take the whole grace period.' },
  { id: 'prestop-and-window', severity: 'note', summary: 'A preStop sleep and drainkit\'s deregistration window add up: the pod keeps serving for both, one after the other.' },
  { id: 'prestop-sleep-to-endpoint', severity: 'note', summary: 'A preStop sleep can be drainkit\'s preStop endpoint instead (lifecycle.preStop.httpGet): the drain starts at the deletion and the kubelet\'s wait is the window, counted once in the budget.' },
  { id: 'prestop-endpoint-unprotected', severity: 'warning', summary: 'A preStop httpGet to drainkit\'s preStop path on the main service port without DRAINKIT_PRESTOP_TOKEN, or without the x-drainkit-prestop header that carries it (or with another value), is refused: the balancer forwards that port, so serving it there would let any client drain the pod; the hook fails.' },
  { id: 'prestop-endpoint-exposed', severity: 'error', summary: 'A Service whose targetPort is the health port forwards drainkit\'s preStop endpoint, served there without DRAINKIT_PRESTOP_TOKEN: any client of the Service can drain the pods.' },
  { id: 'window-below-lag', severity: 'warning', summary: 'The pod must keep serving (preStop + window) until the slowest consumer of its endpoints stopped routing to it, plus a margin (default 1 s or a quarter of the lag), or new connections are refused after the listener closes.' },
  { id: 'prestop-other-container', severity: 'warning', summary: 'preStop runs per container: a preStop on another container does not delay SIGTERM to the container that drains.' },
  { id: 'liveness-is-readiness', severity: 'error', summary: 'Liveness must not probe the readiness endpoint (or the same handler as readiness): a drain that is not a pod deletion would get the container restarted mid-drain.' },
  { id: 'readiness-missing', severity: 'warning', summary: 'The container that drains has no readiness probe: readiness 503 never reaches Kubernetes, and balancers that probe the pod keep routing. Jobs and CronJobs that no Service selects take no traffic and are exempt.' },
  { id: 'readiness-wrong-endpoint', severity: 'warning', summary: 'The readiness probe does not hit drainkit\'s readiness path and port (the health port, else one of the container\'s declared ports), so drainkit\'s 503 is never seen. A note when the container declares no ports: the port cannot be checked.' },
  { id: 'probe-threshold-mismatch', severity: 'warning', summary: 'An adaptive window that counts 503 probes must count as many as the readiness probe\'s failureThreshold, and its maximum must outlast that many probe periods.' },
  { id: 'publish-not-ready', severity: 'warning', summary: 'publishNotReadyAddresses: true on a Service that selects the pod keeps terminating endpoints ready: neither deletion nor readiness stops traffic.' },
  { id: 'shell-entrypoint', severity: 'warning', summary: 'A shell running a script without exec (sh -c, bash -lc, behind env, -c in args) or a package runner (npm, npx, yarn) as PID 1 may not forward SIGTERM: the app never drains and is SIGKILLed at the end of the grace. A shell running a script file is a note: the script must exec node.' },
  { id: 'rollout-capacity', severity: 'error', summary: 'A rollout must not take the only replica (or all replicas) out before its replacement is ready.' },
  { id: 'lb-deregistration-delay', severity: 'warning', summary: 'A load balancer deregistration delay shorter than the window plus the drain timeout cuts requests that are still draining.' },
  { id: 'keep-alive-below-upstream', severity: 'warning', summary: 'drainkit\'s keep-alive timeout must stay above the upstream\'s idle timeout, or the upstream reuses sockets the app is closing (steady 502s).' },
  { id: 'unknown-field', severity: 'error', summary: 'An unknown key under lifecycle, a hook or a probe (a typo such as preStopHook) is rejected by the API server or silently ignored.' },
  { id: 'unrendered-template', severity: 'error', summary: 'The document still contains template syntax ({{ ... }}), quoted or not (`replicas: {{ .Values.n }}` is valid YAML, a map whose key is a map): render it first (helm template). ConfigMap and Secret data and annotations may hold {{ }} of their own.' },
  { id: 'yaml-syntax', severity: 'error', summary: 'The document is not valid YAML.' },
  { id: 'not-a-manifest', severity: 'warning', summary: 'A document without apiVersion and kind is not a Kubernetes object; it was skipped.' },
  { id: 'env-invalid', severity: 'error', summary: 'A DRAINKIT_* variable has a value drainkit rejects at start-up, or a name drainkit does not know.' },
  { id: 'env-unresolved', severity: 'note', summary: 'A DRAINKIT_* variable comes from a Secret, a field or a ConfigMap not in the input: its value is unknown, the default is assumed.' },
  { id: 'defaults-assumed', severity: 'note', summary: 'No DRAINKIT_* variable or flag sets drainkit\'s settings for this container: drainkit\'s defaults are assumed.' },
  { id: 'container-ambiguous', severity: 'warning', summary: 'Several containers and none sets DRAINKIT_* variables: name the one that runs drainkit with --container.' },
  { id: 'no-workload', severity: 'note', summary: 'The input holds no workload (Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob, Pod, PodTemplate).' },
] as const satisfies readonly Rule[];

export type RuleId = (typeof RULE_LIST)[number]['id'];

/** Every rule, in report order. */
export const RULES: readonly Rule[] = Object.freeze(RULE_LIST);

const BY_ID = new Map<string, Rule>(RULES.map((r) => [r.id, r]));

export function rule(id: RuleId): Rule {
  return BY_ID.get(id)!;
}

/** Where a finding points: the input file (or `<stdin>`), a 1-based line, and Helm's template when known. */
export interface Location {
  readonly file: string;
  readonly line: number;
  /** The template a `helm template` render came from (its `# Source:` comment). */
  readonly template?: string | undefined;
}

export interface Finding {
  readonly ruleId: RuleId;
  readonly severity: Severity;
  /** Gives the numbers and the fix. */
  readonly message: string;
  readonly location: Location;
  /** `Deployment/web` (with the container when the finding is about one: `Deployment/web[app]`). */
  readonly object?: string | undefined;
}
