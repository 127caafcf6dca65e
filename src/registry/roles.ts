/**
 * Least-privilege database roles for the registry (`drainkit registry roles`): who may drain
 * what. Three NOLOGIN group roles hold the privileges; login users are made members of them
 * (`CREATE ROLE web_1 LOGIN PASSWORD '…' IN ROLE drainkit_instance`), so that each process or
 * person has its own credentials to rotate and its own name in `pg_stat_activity`, while the
 * grants live in one place and survive users coming and going.
 *
 * - instance: register, heartbeat, write events, read and acknowledge the drain requests
 *   addressed to it, run the reaper (every reporter does, by default). It has no INSERT on
 *   `DrainRequest`, its UPDATE there is limited to the two acknowledgement columns, and a
 *   row-level policy lets it only answer a pending request (never re-open an answered one, which
 *   would be a drain request by another name). Any pending request, not only its own: nothing
 *   ties a database user to a registration, and its reaper answers lost instances' requests
 *   (docs/registry.md, "Who may drain what", says what that leaves open).
 * - operator: read everything, request drains (`registry drain`, `roll`, the dashboard's
 *   actions), reap lost instances and prune old rows. It cannot register or heartbeat.
 * - read-only: SELECT on every registry table, for `registry instances`/`summary`/`events` and
 *   `drainkit dashboard --read-only`.
 *
 * Postgres only: PGlite has one user, and the embedded registry served over pglite-socket has no
 * authentication at all. The script is idempotent (roles created if missing, privileges revoked
 * and granted again, policies replaced) and must be run again after a `migrate` that adds tables.
 */
import type { Store } from './driver.js';
import { RegistryError, describe } from './errors.js';
import { LATEST_VERSION } from './schema.js';

export interface RoleNames {
  /** Default `drainkit_instance`. */
  readonly instance: string;
  /** Default `drainkit_operator`. */
  readonly operator: string;
  /** Default `drainkit_read_only`. */
  readonly readOnly: string;
  /** The schema holding the registry's tables. Default `public`. */
  readonly schema: string;
}

export const DEFAULT_ROLE_NAMES: RoleNames = Object.freeze({
  instance: 'drainkit_instance',
  operator: 'drainkit_operator',
  readOnly: 'drainkit_read_only',
  schema: 'public',
});

/** Every table of the registry (migrations 1 to 7; 7 adds only an index). */
const TABLES = ['serverinstance', 'drainevent', 'drainrequest', 'clusterworker', 'drainkit_migrations'] as const;
const SEQUENCES = ['serverinstance_id_seq', 'drainevent_id_seq', 'drainrequest_id_seq'] as const;
/** The change feed's trigger function (migration 3). */
const TRIGGER_FUNCTION = 'drainkit_notify_fleet_change()';

/**
 * Lower-case unquoted identifiers only: names that mean the same quoted or not, so that what an
 * operator types in `GRANT drainkit_instance TO …` is the role this created.
 */
const IDENTIFIER = /^[a-z_][a-z0-9_]{0,62}$/;

/** Fills in defaults and checks every name; throws `ERR_DRAINKIT_REGISTRY_INVALID_OPTION` naming the bad one. */
export function resolveRoleNames(names: Partial<RoleNames> = {}): RoleNames {
  const resolved: RoleNames = { ...DEFAULT_ROLE_NAMES, ...Object.fromEntries(Object.entries(names).filter(([, v]) => v !== undefined)) };
  for (const [key, value] of Object.entries(resolved)) {
    if (typeof value !== 'string' || !IDENTIFIER.test(value) || value.startsWith('pg_')) {
      throw new RegistryError(
        'ERR_DRAINKIT_REGISTRY_INVALID_OPTION',
        `drainkit registry: ${key === 'readOnly' ? 'read-only role' : key === 'schema' ? 'schema' : `${key} role`} got ${describe(value)}; accepted: a lower-case identifier of at most 63 letters, digits and underscores, starting with a letter or underscore, not starting with pg_`,
      );
    }
  }
  const roles = [resolved.instance, resolved.operator, resolved.readOnly];
  if (new Set(roles).size !== roles.length) {
    throw new RegistryError('ERR_DRAINKIT_REGISTRY_INVALID_OPTION', `drainkit registry: the instance, operator and read-only roles must be three different roles; got ${roles.join(', ')}`);
  }
  return resolved;
}

/** The SQL that creates the three roles and grants them exactly what they need. */
export function rolesScript(names: Partial<RoleNames> = {}): string {
  const { instance, operator, readOnly, schema } = resolveRoleNames(names);
  const q = (id: string): string => `"${id}"`;
  const t = (table: string): string => `${q(schema)}.${table}`;
  const all = `${q(instance)}, ${q(operator)}, ${q(readOnly)}`;
  const tables = TABLES.map(t).join(', ');
  const sequences = SEQUENCES.map(t).join(', ');
  const createRole = (role: string): string =>
    `  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '${role}') THEN CREATE ROLE ${q(role)} NOLOGIN; END IF;`;
  const policy = (name: string, body: string): string => `DROP POLICY IF EXISTS ${name} ON ${t('drainrequest')};\nCREATE POLICY ${name} ON ${t('drainrequest')} ${body};`;
  return `-- drainkit registry roles for schema ${schema} (registry schema version ${LATEST_VERSION}).
-- Run as the owner of the registry's tables (the role that ran \`drainkit registry migrate\`),
-- with CREATEROLE. Idempotent; run it again after every migrate that adds tables.
-- Then make login users members: CREATE ROLE web_1 LOGIN PASSWORD '...' IN ROLE ${instance};

-- Group roles (NOLOGIN): privileges live here, credentials on the users granted them.
DO $drainkit_roles$ BEGIN
${createRole(instance)}
${createRole(operator)}
${createRole(readOnly)}
END $drainkit_roles$;

-- Start from nothing, so that running this again leaves exactly what follows.
REVOKE ALL ON TABLE ${tables} FROM ${all};
REVOKE ALL ON SEQUENCE ${sequences} FROM ${all};
GRANT USAGE ON SCHEMA ${q(schema)} TO ${all};

-- Every role reads the whole registry (instances read their row and their drain requests).
GRANT SELECT ON TABLE ${tables} TO ${all};

-- Instance: register and heartbeat (ServerInstance), its events, its cluster's workers, the
-- reaper; answer the drain requests addressed to it: two columns only, and no INSERT.
GRANT INSERT, UPDATE ON TABLE ${t('serverinstance')} TO ${q(instance)};
GRANT INSERT ON TABLE ${t('drainevent')} TO ${q(instance)};
GRANT INSERT, UPDATE ON TABLE ${t('clusterworker')} TO ${q(instance)};
GRANT UPDATE (acknowledged_at, outcome) ON TABLE ${t('drainrequest')} TO ${q(instance)};
GRANT USAGE ON SEQUENCE ${t('serverinstance_id_seq')}, ${t('drainevent_id_seq')} TO ${q(instance)};

-- Operator: request drains, reap (stop a lost instance, answer its requests, write "lost"),
-- prune (delete old rows). Never register or heartbeat.
GRANT INSERT, DELETE ON TABLE ${t('drainrequest')} TO ${q(operator)};
GRANT UPDATE (acknowledged_at, outcome) ON TABLE ${t('drainrequest')} TO ${q(operator)};
GRANT UPDATE (status, phase), DELETE ON TABLE ${t('serverinstance')} TO ${q(operator)};
GRANT INSERT, DELETE ON TABLE ${t('drainevent')} TO ${q(operator)};
GRANT DELETE ON TABLE ${t('clusterworker')} TO ${q(operator)};
GRANT USAGE ON SEQUENCE ${t('drainevent_id_seq')}, ${t('drainrequest_id_seq')} TO ${q(operator)};

-- The change feed's triggers run this function on every write to the three tables.
GRANT EXECUTE ON FUNCTION ${t(TRIGGER_FUNCTION)} TO ${q(instance)}, ${q(operator)};

-- Drain requests: the instance may only answer a pending request (an UPDATE that set
-- acknowledged_at back to NULL would re-open an old one, a drain request by another name).
-- With row-level security on, only the table's owner, superusers and members of these roles
-- reach DrainRequest rows.
ALTER TABLE ${t('drainrequest')} ENABLE ROW LEVEL SECURITY;
${policy('drainkit_read', `FOR SELECT TO ${all} USING (true)`)}
${policy('drainkit_instance_answer', `FOR UPDATE TO ${q(instance)} USING (acknowledged_at IS NULL) WITH CHECK (acknowledged_at IS NOT NULL AND outcome IS NOT NULL)`)}
${policy('drainkit_operator_request', `FOR INSERT TO ${q(operator)} WITH CHECK (acknowledged_at IS NULL AND outcome IS NULL)`)}
${policy('drainkit_operator_answer', `FOR UPDATE TO ${q(operator)} USING (acknowledged_at IS NULL) WITH CHECK (acknowledged_at IS NOT NULL AND outcome IS NOT NULL)`)}
${policy('drainkit_operator_prune', `FOR DELETE TO ${q(operator)} USING (true)`)}

-- Tables a later migration creates (as this role) are readable by all three at once; what each
-- may write there comes from running this script again.
ALTER DEFAULT PRIVILEGES IN SCHEMA ${q(schema)} GRANT SELECT ON TABLES TO ${all};
`;
}

/**
 * Applies {@link rolesScript} as one transaction. Refuses PGlite (one user, nothing to grant) and
 * a registry not migrated to this version (the grants name its tables).
 */
export async function applyRoles(store: Store, names: Partial<RoleNames> = {}, options: { readonly timeoutMs?: number } = {}): Promise<RoleNames> {
  const resolved = resolveRoleNames(names);
  const script = rolesScript(resolved);
  if (store.driver === 'pglite' || (await isPglite(store))) {
    throw new RegistryError(
      'ERR_DRAINKIT_REGISTRY_INVALID_OPTION',
      'drainkit registry: roles are for real Postgres only: PGlite has a single user and the embedded registry no authentication, so there is nothing to grant (print the SQL without --apply to read it)',
    );
  }
  const rows = await store.query<{ version: number | null }>(`SELECT max(version)::int AS version FROM ${`"${resolved.schema}"`}.drainkit_migrations`);
  const version = rows[0]?.version ?? 0;
  if (version < LATEST_VERSION) {
    throw new RegistryError(
      'ERR_DRAINKIT_REGISTRY_INVALID_OPTION',
      `drainkit registry: the registry in schema ${resolved.schema} is at schema version ${version}, these roles are for version ${LATEST_VERSION}: run \`drainkit registry migrate\` first (as the tables' owner)`,
    );
  }
  await store.script(script, { timeoutMs: options.timeoutMs ?? 30_000 });
  return resolved;
}

async function isPglite(store: Store): Promise<boolean> {
  const rows = await store.query<{ v: string }>('SELECT version() AS v');
  return /pglite/i.test(rows[0]?.v ?? '');
}
