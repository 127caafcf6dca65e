/**
 * drainkit's settings for one container, read exactly as the process will read them: the
 * container's DRAINKIT_* variables (literal values, ConfigMaps from the input) through
 * `drainerOptionsFromEnv`, then the options' own validation and defaults. The doctor's flags
 * are expressed as the same variables, overlaid on the manifest's, so one table serves both.
 */
import { closestEnvName, drainerOptionsFromEnv, ENV_OPTIONS, envOptionSpec, parseEnvValue, type EnvOptionName } from '../core/env-options.js';
import { DrainkitError } from '../core/errors.js';
import { resolveOptions } from '../core/options.js';
import type { ResolvedOptions } from '../core/types.js';
import { finding, type ManifestObject } from './manifests.js';
import { get, rec, type Container } from './pod.js';
import type { Finding, Location } from './rules.js';

/** Where a setting came from. */
export type SettingSource =
  | { readonly from: 'env'; readonly name: string; readonly location: Location; readonly via?: string | undefined }
  | { readonly from: 'flag'; readonly name: string }
  | { readonly from: 'default' };

export interface DrainkitSettings {
  readonly options: ResolvedOptions;
  /** Where the variable's value came from (`default` when neither the manifest nor a flag set it). */
  source(name: EnvOptionName): SettingSource;
  /** Whether any DRAINKIT_* setting (manifest or flag) applies to this container. */
  readonly configured: boolean;
  /** Bad values and combinations, each at its line. */
  readonly findings: readonly Finding[];
}

/** The DRAINKIT_* variables a container sets, with their locations; unresolvable ones are reported. */
export function containerDrainkitEnv(
  object: ManifestObject,
  container: Container,
  configMaps: readonly ManifestObject[],
): { env: Map<string, { value: string; location: Location; via?: string }>; findings: Finding[] } {
  const env = new Map<string, { value: string; location: Location; via?: string }>();
  const findings: Finding[] = [];
  const label = `${object.kind}/${object.name}[${container.name}]`;
  const configMap = (name: unknown): ManifestObject | undefined =>
    configMaps.find((c) => c.name === name && (c.namespace ?? object.namespace) === (object.namespace ?? c.namespace));

  // envFrom first: `env` entries override it, as in the kubelet.
  const envFrom = Array.isArray(container.spec.envFrom) ? container.spec.envFrom : [];
  envFrom.forEach((source: unknown, i: number) => {
    const ref = rec(rec(source)?.configMapRef);
    const prefix = typeof rec(source)?.prefix === 'string' ? (rec(source)!.prefix as string) : '';
    const at = object.at([...container.path, 'envFrom', i]);
    if (!ref) return;
    const cm = configMap(ref.name);
    if (!cm) {
      if (prefix.startsWith('DRAINKIT_') || prefix === '') {
        findings.push(finding('env-unresolved', `envFrom ConfigMap ${JSON.stringify(ref.name)} is not in the input: any DRAINKIT_* variables it holds are unknown here, so defaults are assumed. Pass its manifest to the doctor too.`, at, label));
      }
      return;
    }
    for (const [key, value] of Object.entries(rec(cm.value.data) ?? {})) {
      const name = prefix + key;
      if (name.startsWith('DRAINKIT_') && typeof value === 'string') env.set(name, { value, location: cm.at(['data', key]), via: `ConfigMap ${cm.name}` });
    }
  });

  const list = Array.isArray(container.spec.env) ? container.spec.env : [];
  list.forEach((entry: unknown, i: number) => {
    const e = rec(entry);
    if (typeof e?.name !== 'string' || !e.name.startsWith('DRAINKIT_')) return;
    const at = object.at([...container.path, 'env', i]);
    if (typeof e.value === 'string') {
      env.set(e.name, { value: e.value, location: at });
      return;
    }
    if (e.value !== undefined) {
      // A number in YAML (value: 5000) is rejected by the API server: env values are strings.
      findings.push(finding('env-invalid', `${e.name} has value ${JSON.stringify(e.value)}, which is not a string: the API server rejects it. Quote it: value: "${JSON.stringify(e.value).replace(/^"|"$/g, "")}".`, at, label));
      return;
    }
    const cmRef = rec(get(e, ['valueFrom', 'configMapKeyRef']));
    const cm = cmRef ? configMap(cmRef.name) : undefined;
    const data = cm ? rec(cm.value.data) : undefined;
    if (cm && typeof cmRef?.key === 'string' && typeof data?.[cmRef.key] === 'string') {
      env.set(e.name, { value: data[cmRef.key] as string, location: cm.at(['data', cmRef.key]), via: `ConfigMap ${cm.name}` });
      return;
    }
    const secretRef = rec(get(e, ['valueFrom', 'secretKeyRef']));
    if (secretRef && e.name === 'DRAINKIT_PRESTOP_TOKEN') {
      // Where a secret belongs: set, with a value the doctor does not need to know.
      env.set(e.name, { value: SECRET_STAND_IN, location: at, via: `Secret ${String(secretRef.name)}` });
      return;
    }
    const what = cmRef
      ? `ConfigMap ${JSON.stringify(cmRef.name)} key ${JSON.stringify(cmRef.key)}, which is not in the input`
      : secretRef ? `Secret ${JSON.stringify(secretRef.name)} key ${JSON.stringify(secretRef.key)}` : 'a field or resource reference';
    findings.push(finding('env-unresolved', `${e.name} comes from ${what}: its value is unknown here, so drainkit's default is assumed. Set it with value: (drainkit's settings are not secrets), or pass the ConfigMap's manifest too.`, at, label));
    // Still counts as configured: the container runs drainkit.
    env.set(e.name, { value: '', location: at, via: 'unresolved' });
  });
  return { env, findings };
}

/** The value assumed for DRAINKIT_PRESTOP_TOKEN when it comes from a Secret: any accepted secret does, the doctor never compares it. */
const SECRET_STAND_IN = 'value-kept-in-a-kubernetes-secret';

const DEREGISTER_GROUP: readonly string[] = ['DRAINKIT_DEREGISTER_MODE', 'DRAINKIT_DEREGISTER_DELAY_MS', 'DRAINKIT_DEREGISTER_MIN_MS', 'DRAINKIT_DEREGISTER_MAX_MS', 'DRAINKIT_DEREGISTER_QUIET_MS', 'DRAINKIT_PROBE_FAILURE_THRESHOLD', 'DRAINKIT_DEREGISTER_CONFIRM'];

/**
 * Resolves the settings of one container: manifest variables, overlaid by `overrides` (the
 * doctor's flags, as DRAINKIT_* names). A flag that sets any part of the window replaces the
 * manifest's whole window, so the two never mix modes.
 */
export function resolveSettings(
  label: string,
  manifestEnv: ReadonlyMap<string, { value: string; location: Location; via?: string }>,
  overrides: Readonly<Record<string, string>>,
  fallbackLocation: Location,
): DrainkitSettings {
  const findings: Finding[] = [];
  const overridesWindow = Object.keys(overrides).some((n) => DEREGISTER_GROUP.includes(n));
  const effective = new Map<string, SettingSource & { value: string }>();
  for (const [name, e] of manifestEnv) {
    if (e.via === 'unresolved') continue;
    if (overridesWindow && DEREGISTER_GROUP.includes(name)) continue;
    effective.set(name, { from: 'env', name, location: e.location, via: e.via, value: e.value });
  }
  for (const [name, value] of Object.entries(overrides)) effective.set(name, { from: 'flag', name, value });

  // Each value on its own first, so each bad one is reported at its own line; combinations below.
  const env: Record<string, string> = {};
  for (const [name, s] of effective) {
    const where = s.from === 'env' ? s.location : fallbackLocation;
    const spec = envOptionSpec(name);
    if (!spec) {
      const near = closestEnvName(name);
      findings.push(finding('env-invalid', `Unknown variable ${name}${near ? ` (did you mean ${near}?)` : ''}: drainkit refuses to start with a DRAINKIT_* name it does not know. Known: ${ENV_OPTIONS.map((o) => o.name).join(', ')}.`, where, label));
      continue;
    }
    try {
      parseEnvValue(spec, s.value);
      env[name] = s.value;
    } catch (err) {
      if (!(err instanceof DrainkitError)) throw err;
      findings.push(finding('env-invalid', `${err.message.replace(/^drainkit: /, '')}${s.from === 'flag' ? ` (from the doctor flag ${flagForEnv(name)})` : ''}. drainkit would refuse to start with it; the default is assumed.`, where, label));
    }
  }
  let options: ResolvedOptions;
  try {
    options = resolveOptions({ ...drainerOptionsFromEnv(env), signals: false });
  } catch (err) {
    if (!(err instanceof DrainkitError)) throw err;
    // A combination drainkit rejects (window variables of two modes, minimum above maximum, the
    // same path twice): report it, then assume the defaults of the group at fault.
    const healthGroup = ['DRAINKIT_READINESS_PATH', 'DRAINKIT_LIVENESS_PATH', 'DRAINKIT_HEALTH_PORT', 'DRAINKIT_PRESTOP_PATH', 'DRAINKIT_PRESTOP_TOKEN'];
    const group = /PATH|PRESTOP/.test(err.message) && !/DEREGISTER/.test(err.message) ? healthGroup : DEREGISTER_GROUP;
    const first = [...effective.values()].find((s) => s.from === 'env' && group.includes(s.name));
    findings.push(finding('env-invalid', `${err.message.replace(/^drainkit: /, '')}. drainkit would refuse to start with these; their defaults are assumed below.`, first?.from === 'env' ? first.location : fallbackLocation, label));
    const rest = Object.fromEntries(Object.entries(env).filter(([n]) => !group.includes(n)));
    for (const n of group) effective.delete(n);
    try {
      options = resolveOptions({ ...drainerOptionsFromEnv(rest), signals: false });
    } catch {
      options = resolveOptions({ signals: false }); // both groups at fault: every default (already reported)
    }
  }
  return {
    options,
    configured: effective.size > 0 || manifestEnv.size > 0,
    findings,
    source(name) {
      const s = effective.get(name);
      if (!s || !envOptionSpec(name)) return { from: 'default' };
      return s.from === 'env' ? { from: 'env', name, location: s.location, via: s.via } : { from: 'flag', name };
    },
  };
}

/** `--drain-timeout-ms` for `DRAINKIT_DRAIN_TIMEOUT_MS`: the doctor's flag for each variable. */
export function flagForEnv(name: string): string {
  return `--${name.replace(/^DRAINKIT_/, '').toLowerCase().replace(/_/g, '-')}`;
}
