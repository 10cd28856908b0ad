// The packages c2dns ships (Dockerfile, docker-compose.yml, deploy/systemd, deploy/logrotate,
// deploy/kubernetes), checked without Docker, systemd or a cluster: each file is parsed and its
// promises are checked against each other and against the configuration they carry (loaded with
// the real config loader). Then the image's entry command (ENTRYPOINT + CMD, translated to the
// local build and temp directories) runs as the image's unprivileged user, and its HEALTHCHECK,
// the token on the /api, DNS and the query log are exercised; logrotate (when installed) rotates
// that log for real with its postrotate signal. systemd-analyze verify, logrotate -d and hadolint
// are used when present and skipped with a message otherwise.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { isLoopback } from '../../src/admin/access.js';
import { adminListen } from '../../src/admin/config.js';
import { loadConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';
import { parseHostPort } from '../../src/upstream/address.js';
import { ask } from '../helpers/client.js';
import { buildCli, opLines, type BuiltCli } from '../helpers/cli.js';
import { startUpstream, zoneScript, type Upstream } from '../helpers/upstream.js';
import { T } from '../helpers/wire.js';

const root = join(import.meta.dirname, '..', '..');
const read = (p: string): string => readFileSync(join(root, p), 'utf8');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Loads a configuration text with the real loader (as `c2dns serve --config` would). */
function loadConfigText(text: string, name = 'c2dns.yaml'): Config {
  const dir = mkdtempSync(join(tmpdir(), 'c2dns-pkg-cfg-'));
  const file = join(dir, name);
  writeFileSync(file, text);
  return loadConfig({ file });
}

function which(cmd: string): string | null {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

// ------------------------------------------------------------------ Dockerfile

interface Instruction {
  op: string;
  args: string;
  /** The exec form (JSON array), when the arguments are one. */
  exec: string[] | null;
}

/** Instructions of a Dockerfile: comments dropped, continuation lines joined. */
function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  let pending = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (pending === '' && (line === '' || line.startsWith('#'))) continue;
    if (pending !== '' && line.startsWith('#')) continue;
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1)} `;
      continue;
    }
    const full = (pending + line).trim();
    pending = '';
    const m = /^(\w+)\s+(.*)$/s.exec(full);
    if (m === null) throw new Error(`not an instruction: ${full}`);
    const args = m[2]!.trim();
    let exec: string[] | null = null;
    const json = /^(?:--\S+\s+)*(?:CMD\s+)?(\[.*\])$/s.exec(args);
    if (json !== null) {
      try {
        exec = JSON.parse(json[1]!) as string[];
      } catch {
        exec = null;
      }
    }
    out.push({ op: m[1]!.toUpperCase(), args, exec });
  }
  return out;
}

const dockerfile = parseDockerfile(read('Dockerfile'));
/** Instructions of the last stage (the image that runs). */
const finalStage = dockerfile.slice(dockerfile.map((i) => i.op).lastIndexOf('FROM'));
const one = (op: string): Instruction => {
  const found = finalStage.filter((i) => i.op === op);
  expect(found, op).toHaveLength(1);
  return found[0]!;
};

/** Where the Dockerfile puts the image's configuration, and the file it copies there. */
function imageConfig(): { source: string; target: string } {
  const copy = finalStage.find((i) => i.op === 'COPY' && /\.ya?ml$/.test(i.args.split(/\s+/).at(-1)!) && i.args.includes('deploy/'));
  expect(copy, 'a COPY of the container configuration').toBeDefined();
  const [source, target] = copy!.args.split(/\s+/) as [string, string];
  return { source, target };
}

const containerConfigText = read(imageConfig().source);
const containerCfg = loadConfigText(containerConfigText);
const ADMIN = adminListen(containerCfg.admin);
const volumes = (): string[] => JSON.parse(one('VOLUME').args) as string[];

describe('Dockerfile', () => {
  it('builds on a supported Node.js LTS (22 or 24), every stage', () => {
    const bases = dockerfile.filter((i) => i.op === 'FROM').map((i) => i.args.split(/\s+/)[0]!);
    expect(bases.length).toBeGreaterThan(0);
    for (const b of bases) expect(b, b).toMatch(/^node:(22|24)(\.\d+)*(-[a-z]+)*(-slim)?$/);
  });

  it('runs as a numeric non-root user (so Kubernetes runAsNonRoot can check it)', () => {
    const user = one('USER').args;
    expect(user).toMatch(/^\d+(:\d+)?$/);
    expect(Number(user.split(':')[0])).toBeGreaterThan(0);
  });

  it('needs no file capability: nothing is setcap-ed, so it runs with --cap-drop ALL', () => {
    for (const i of dockerfile) expect(i.args, `${i.op} ${i.args}`).not.toMatch(/setcap|cap_net_bind_service|libcap/i);
  });

  it('copies a valid configuration whose state and log directories are VOLUMEs owned by the user', () => {
    const { target } = imageConfig();
    expect(target).toBe('/etc/c2dns/c2dns.yaml');
    const vols = volumes();
    expect(vols).toContain(containerCfg.state.dir);
    const logDir = containerCfg.log.destination.replace(/\/[^/]+$/, '');
    expect(vols).toContain(logDir);
    const owner = one('USER').args;
    const run = finalStage.filter((i) => i.op === 'RUN').map((i) => i.args).join('\n');
    for (const v of vols) expect(run, `${v} created and given to ${owner}`).toMatch(new RegExp(`chown ${owner}\\S* .*${v.replace(/\//g, '\\/')}`));
  });

  it('listens on 53 and on 0.0.0.0 for the admin listener, which therefore needs the token for /api', () => {
    expect(containerCfg.listen.map((l) => parseHostPort(l, 53))).toContainEqual({ host: '0.0.0.0', port: 53, family: 4 });
    expect(ADMIN.host).toBe('0.0.0.0');
    expect(isLoopback(ADMIN.host)).toBe(false);
    expect(containerCfg.admin.token).toBeNull(); // from C2DNS_ADMIN_TOKEN, never in the image
    expect(containerCfg.admin.allow).toEqual(expect.arrayContaining(['127.0.0.0/8'])); // the HEALTHCHECK's own calls
    const exposed = one('EXPOSE').args.split(/\s+/);
    expect(exposed).toEqual(expect.arrayContaining(['53/udp', '53/tcp', `${ADMIN.port}/tcp`]));
  });

  it('HEALTHCHECK runs node (no curl in the image) against /healthz on the admin port', () => {
    const hc = one('HEALTHCHECK');
    expect(hc.args).toMatch(/--interval=\d+s/);
    expect(hc.args).toMatch(/--timeout=\d+s/);
    expect(hc.exec).not.toBeNull();
    expect(hc.exec![0]).toBe('node');
    expect(hc.exec![1]).toBe('-e');
    expect(hc.exec![2]).toContain(`fetch('http://127.0.0.1:${ADMIN.port}/healthz'`);
    expect(hc.args).not.toMatch(/curl|wget/);
  });

  it('starts `c2dns serve --config` on that configuration, in exec form', () => {
    expect(one('ENTRYPOINT').exec).toEqual(['node', 'dist/src/cli.js']);
    expect(one('CMD').exec).toEqual(['serve', '--config', imageConfig().target]);
    expect(one('STOPSIGNAL').args).toBe('SIGTERM');
  });

  it('copies only what exists and what .dockerignore lets through', () => {
    const ignored = read('.dockerignore')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('#'));
    for (const i of dockerfile.filter((x) => x.op === 'COPY' && !x.args.startsWith('--from'))) {
      const sources = i.args.split(/\s+/).slice(0, -1);
      for (const s of sources) {
        expect(existsSync(join(root, s)), s).toBe(true);
        expect(
          ignored.some((g) => s === g || s.startsWith(`${g}/`)),
          `${s} is excluded by .dockerignore`,
        ).toBe(false);
      }
    }
  });

  it('passes hadolint when it is installed', (ctx) => {
    const hadolint = which('hadolint');
    if (hadolint === null) {
      ctx.skip('hadolint is not installed (not packaged by Debian); the checks above stand in for it');
      return;
    }
    const r = spawnSync(hadolint, [join(root, 'Dockerfile')], { encoding: 'utf8' });
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  });
});

// ------------------------------------------------------------------ docker-compose.yml

describe('docker-compose.yml', () => {
  const compose = YAML.parse(read('docker-compose.yml')) as { services: Record<string, Record<string, unknown>>; volumes: Record<string, unknown> };
  const svc = compose.services.c2dns!;

  it('builds this Dockerfile and publishes DNS on 53 UDP and TCP, the admin port on loopback only', () => {
    expect(svc.build).toBe('.');
    const ports = svc.ports as string[];
    expect(ports).toEqual(expect.arrayContaining(['53:53/udp', '53:53/tcp']));
    const admin = ports.filter((p) => p.endsWith(`:${ADMIN.port}/tcp`) || p.endsWith(`:${ADMIN.port}`));
    expect(admin).toEqual([`127.0.0.1:${ADMIN.port}:${ADMIN.port}/tcp`]);
  });

  it('mounts the configuration read-only on the image path, and named volumes on the state and log directories', () => {
    const mounts = (svc.volumes as string[]).map((v) => v.split(':'));
    const { target } = imageConfig();
    const cfgMount = mounts.find(([, to]) => to === target.replace(/\/[^/]+$/, ''));
    expect(cfgMount, 'config folder').toBeDefined();
    expect(cfgMount![2]).toBe('ro');
    expect(existsSync(join(root, cfgMount![0]!, target.split('/').pop()!))).toBe(true);
    for (const dir of volumes()) {
      const m = mounts.find(([, to]) => to === dir);
      expect(m, dir).toBeDefined();
      expect(Object.keys(compose.volumes)).toContain(m![0]);
    }
  });

  it('requires the admin token from the environment and keeps least privilege', () => {
    const env = svc.environment as Record<string, string>;
    expect(env.C2DNS_ADMIN_TOKEN).toMatch(/^\$\{C2DNS_ADMIN_TOKEN:\?.+\}$/);
    expect(svc.user).toBe(one('USER').args);
    expect(svc.cap_drop).toEqual(['ALL']);
    expect(svc.cap_add).toEqual(['NET_BIND_SERVICE']);
    expect((svc.sysctls as Record<string, number>)['net.ipv4.ip_unprivileged_port_start']).toBeLessThanOrEqual(53);
    expect(svc.read_only).toBe(true);
    expect(svc.security_opt).toContain('no-new-privileges:true');
  });
});

// ------------------------------------------------------------------ systemd

/** [Section] → key → values (repeated keys accumulate). */
function parseUnit(text: string): Map<string, Map<string, string[]>> {
  const out = new Map<string, Map<string, string[]>>();
  let section: Map<string, string[]> | null = null;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const s = /^\[(\w+)\]$/.exec(line);
    if (s !== null) {
      section = new Map();
      out.set(s[1]!, section);
      continue;
    }
    const kv = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (kv === null || section === null) throw new Error(`unparseable unit line: ${line}`);
    section.set(kv[1]!, [...(section.get(kv[1]!) ?? []), kv[2]!]);
  }
  return out;
}

describe('deploy/systemd/c2dns.service', () => {
  const unitText = read('deploy/systemd/c2dns.service');
  const unit = parseUnit(unitText);
  const service = unit.get('Service')!;
  const get = (k: string): string | undefined => service.get(k)?.at(-1);
  const unitCfg = loadConfigText(read('deploy/systemd/c2dns.yaml'));

  it('has the promised sandbox, capability, restart and reload settings', () => {
    expect(get('DynamicUser')).toBe('yes');
    expect(get('StateDirectory')).toBe('c2dns');
    expect(get('AmbientCapabilities')).toBe('CAP_NET_BIND_SERVICE');
    expect(get('CapabilityBoundingSet')).toBe('CAP_NET_BIND_SERVICE');
    expect(get('ProtectSystem')).toBe('strict');
    expect(get('Restart')).toBe('on-failure');
    expect(get('ExecReload')).toBe('/bin/kill -HUP $MAINPID');
    expect(get('NoNewPrivileges')).toBe('yes');
    // V8 needs writable executable memory: this setting would crash node at start.
    expect(service.has('MemoryDenyWriteExecute')).toBe(false);
    expect(unit.get('Install')?.get('WantedBy')).toEqual(['multi-user.target']);
  });

  it('starts `c2dns serve` with a configuration that writes only where the unit lets it', () => {
    const exec = get('ExecStart')!.split(/\s+/);
    expect(exec[0]).toMatch(/^\/\S+\/node$/);
    expect(exec[1]).toMatch(/\/dist\/src\/cli\.js$/);
    expect(exec.slice(2)).toEqual(['serve', '--config', `/etc/${get('ConfigurationDirectory')}/c2dns.yaml`]);
    // ProtectSystem=strict: only StateDirectory and LogsDirectory are writable.
    expect(unitCfg.state.dir).toBe(`/var/lib/${get('StateDirectory')}`);
    expect(unitCfg.log.destination.startsWith(`/var/log/${get('LogsDirectory')}/`)).toBe(true);
    expect(unitCfg.history.dir ?? `${unitCfg.state.dir}/history`).toMatch(/^\/var\/lib\/c2dns\b/);
    // The only capability is for port 53; the admin listener stays on loopback.
    expect(unitCfg.listen.some((l) => (parseHostPort(l, 53) as { port: number }).port === 53)).toBe(true);
    expect(isLoopback(adminListen(unitCfg.admin).host)).toBe(true);
  });

  it('passes systemd-analyze verify when it is installed', (ctx) => {
    const analyze = which('systemd-analyze');
    if (analyze === null) {
      ctx.skip('systemd-analyze is not installed (Debian: systemd)');
      return;
    }
    // Verified as written, with ExecStart's node pointed at this machine's (it must exist).
    const dir = mkdtempSync(join(tmpdir(), 'c2dns-unit-'));
    const file = join(dir, 'c2dns.service');
    writeFileSync(file, unitText.replace(/^ExecStart=\S+/m, `ExecStart=${process.execPath}`));
    const r = spawnSync(analyze, ['verify', '--man=no', file], { encoding: 'utf8' });
    const complaints = `${r.stdout}${r.stderr}`.split('\n').filter((l) => l.includes('c2dns.service'));
    expect(complaints).toEqual([]);
    expect(r.status).toBe(0);
  });
});

// ------------------------------------------------------------------ logrotate

describe('deploy/logrotate/c2dns', () => {
  const text = read('deploy/logrotate/c2dns');

  it('rotates the log the systemd and container configurations write, and signals c2dns to reopen it', () => {
    const unitCfg = loadConfigText(read('deploy/systemd/c2dns.yaml'));
    const path = /^(\/\S+)\s*\{/m.exec(text)?.[1];
    expect(path).toBe(unitCfg.log.destination);
    expect(path).toBe(containerCfg.log.destination);
    const post = /postrotate\n([\s\S]*?)\n\s*endscript/.exec(text)?.[1] ?? '';
    expect(post).toMatch(/systemctl kill --kill-whom=main --signal=USR1 c2dns\.service/);
    expect(text).toMatch(/^\s*nocreate\s*$/m); // c2dns creates the new file when it reopens
  });

  it('passes logrotate -d when logrotate is installed', (ctx) => {
    const logrotate = which('logrotate') ?? (existsSync('/usr/sbin/logrotate') ? '/usr/sbin/logrotate' : null);
    if (logrotate === null) {
      ctx.skip('logrotate is not installed (Debian: logrotate)');
      return;
    }
    const dir = mkdtempSync(join(tmpdir(), 'c2dns-lr-'));
    const r = spawnSync(logrotate, ['-d', '-s', join(dir, 'state'), join(root, 'deploy/logrotate/c2dns')], { encoding: 'utf8' });
    expect(r.stderr + r.stdout).not.toMatch(/^error:/m);
    expect(r.status).toBe(0);
  });
});

// ------------------------------------------------------------------ Kubernetes

type K8s = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

describe('deploy/kubernetes', () => {
  const dir = 'deploy/kubernetes';
  const docs: K8s[] = readdirSync(join(root, dir))
    .filter((f) => f.endsWith('.yaml'))
    .flatMap((f) => YAML.parseAllDocuments(read(`${dir}/${f}`)).map((d) => ({ ...(d.toJS() as K8s), __file: f })));
  const find = (kind: string, name?: string): K8s => {
    const found = docs.filter((d) => d.kind === kind && (name === undefined || d.metadata?.name === name));
    expect(found, `${kind} ${name ?? ''}`).toHaveLength(1);
    return found[0]!;
  };
  const deployment = find('Deployment');
  const pod = deployment.spec.template.spec;
  const container = pod.containers[0];
  const configMap = find('ConfigMap');
  const k8sCfg = loadConfigText(configMap.data['c2dns.yaml'] as string);
  const k8sAdmin = adminListen(k8sCfg.admin);
  const portNamed = (name: string): K8s => container.ports.find((p: K8s) => p.name === name);

  it('every manifest names its kind, API version and namespace; kustomization lists existing files', () => {
    for (const d of docs.filter((x) => x.kind !== 'Kustomization')) {
      expect(d.apiVersion, d.__file).toBeTruthy();
      expect(d.metadata?.name, d.__file).toBeTruthy();
      if (d.kind !== 'Namespace') expect(d.metadata.namespace, d.__file).toBe(find('Namespace').metadata.name);
    }
    const k = find('Kustomization');
    for (const f of k.resources as string[]) expect(existsSync(join(root, dir, f)), f).toBe(true);
    expect(k.resources).not.toContain('secret.yaml'); // no placeholder token is ever applied
  });

  it('the ConfigMap is a valid configuration with the container layout: DNS on 53, admin off loopback', () => {
    expect(k8sCfg.listen.map((l) => parseHostPort(l, 53))).toContainEqual({ host: '0.0.0.0', port: 53, family: 4 });
    expect(k8sAdmin).toEqual(ADMIN);
    expect(k8sCfg.state.dir).toBe(containerCfg.state.dir);
    expect(k8sCfg.log.destination).toBe(containerCfg.log.destination);
    expect(k8sCfg.admin.token).toBeNull();
  });

  it('the Deployment runs the image command with DNS ports 53 UDP+TCP and the admin port', () => {
    expect(deployment.spec.replicas).toBeGreaterThanOrEqual(2);
    expect(container.args).toEqual(one('CMD').exec);
    expect(portNamed('dns-udp')).toEqual({ name: 'dns-udp', containerPort: 53, protocol: 'UDP' });
    expect(portNamed('dns-tcp')).toEqual({ name: 'dns-tcp', containerPort: 53, protocol: 'TCP' });
    expect(portNamed('admin')).toEqual({ name: 'admin', containerPort: k8sAdmin.port, protocol: 'TCP' });
  });

  it('probes readiness on /readyz and liveness on /healthz at the admin port', () => {
    const port = (p: K8s): number => (typeof p.httpGet.port === 'string' ? portNamed(p.httpGet.port).containerPort : p.httpGet.port);
    expect(container.readinessProbe.httpGet.path).toBe('/readyz');
    expect(container.livenessProbe.httpGet.path).toBe('/healthz');
    expect(port(container.readinessProbe)).toBe(k8sAdmin.port);
    expect(port(container.livenessProbe)).toBe(k8sAdmin.port);
    // kubelet probes come from node addresses: the default private ranges must be allowed.
    expect(k8sCfg.admin.allow).toEqual(expect.arrayContaining(['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16']));
  });

  it('runs non-root with the image user, no capabilities, read-only root, bounded resources', () => {
    const uid = Number(one('USER').args.split(':')[0]);
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: uid, seccompProfile: { type: 'RuntimeDefault' } });
    expect(pod.securityContext.sysctls).toContainEqual({ name: 'net.ipv4.ip_unprivileged_port_start', value: '0' });
    expect(container.securityContext).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
    expect(container.resources.requests).toMatchObject({ cpu: expect.any(String), memory: expect.any(String) });
    expect(container.resources.limits.memory).toBeTruthy();
  });

  it('mounts the ConfigMap on the image config path, volumes on state and log, the token from the Secret', () => {
    const mounts = Object.fromEntries((container.volumeMounts as K8s[]).map((m) => [m.name, m]));
    const vols = Object.fromEntries((pod.volumes as K8s[]).map((v) => [v.name, v]));
    const { target } = imageConfig();
    expect(mounts.config).toMatchObject({ mountPath: target.replace(/\/[^/]+$/, ''), readOnly: true });
    expect(vols.config.configMap.name).toBe(configMap.metadata.name);
    expect(Object.keys(configMap.data)).toEqual([target.split('/').pop()]);
    expect(mounts.state.mountPath).toBe(k8sCfg.state.dir);
    expect(vols.state.emptyDir ?? vols.state.persistentVolumeClaim).toBeDefined();
    expect(mounts.log.mountPath).toBe(k8sCfg.log.destination.replace(/\/[^/]+$/, ''));
    const env = (container.env as K8s[]).find((e) => e.name === 'C2DNS_ADMIN_TOKEN')!;
    const secret = find('Secret');
    expect(env.valueFrom.secretKeyRef).toEqual({ name: secret.metadata.name, key: 'token' });
    expect(Object.keys(secret.stringData)).toEqual(['token']);
    expect((secret.stringData.token as string).length).toBeLessThan(16); // a placeholder c2dns refuses
  });

  it('the Services carry 53 UDP+TCP and, separately, the admin port, to the pods', () => {
    const labels = deployment.spec.template.metadata.labels;
    const dns = find('Service', 'c2dns');
    expect(dns.spec.selector).toEqual(labels);
    expect(dns.spec.ports).toEqual(
      expect.arrayContaining([
        { name: 'dns-udp', port: 53, targetPort: 'dns-udp', protocol: 'UDP' },
        { name: 'dns-tcp', port: 53, targetPort: 'dns-tcp', protocol: 'TCP' },
      ]),
    );
    expect(dns.spec.ports.some((p: K8s) => p.targetPort === 'admin' || p.port === k8sAdmin.port)).toBe(false);
    const admin = find('Service', 'c2dns-admin');
    expect(admin.spec.type).toBe('ClusterIP');
    expect(admin.spec.ports).toEqual([{ name: 'admin', port: k8sAdmin.port, targetPort: 'admin', protocol: 'TCP' }]);
    // Names the admin Service is called by pass the Host check.
    expect(k8sCfg.admin.hosts).toContain(`${admin.metadata.name}.${admin.metadata.namespace}.svc`);
  });

  it('a PodDisruptionBudget and a ServiceMonitor select the right objects', () => {
    const labels = deployment.spec.template.metadata.labels;
    expect(find('PodDisruptionBudget').spec).toMatchObject({ minAvailable: 1, selector: { matchLabels: labels } });
    const sm = find('ServiceMonitor');
    const admin = find('Service', 'c2dns-admin');
    for (const [k, v] of Object.entries(sm.spec.selector.matchLabels as Record<string, string>)) expect(admin.metadata.labels[k], k).toBe(v);
    expect(sm.spec.endpoints).toEqual([expect.objectContaining({ port: 'admin', path: '/metrics' })]);
  });

  it('the PVC alternative is there for persistent state', () => {
    expect(find('PersistentVolumeClaim').spec.accessModes).toEqual(['ReadWriteOnce']);
  });
});

// ------------------------------------------------------------------ the image's command, outside Docker

const TOKEN = 'packaging-test-token-0123456789';

let built: BuiltCli;
beforeAll(() => {
  built = buildCli();
}, 90_000);
afterAll(() => built?.cleanup());

describe("the image's entry command, outside Docker", () => {
  let up: Upstream;
  let child: ChildProcess;
  let stderr = '';
  let exited: Promise<number | null>;
  let adminPort = 0;
  let dnsPort = 0;
  /** Container paths → their stand-ins under a temp directory. */
  let map: (p: string) => string;
  let logFile: string;
  /** The image's uid when the test can switch to it (it runs as root, and that user can read the build). */
  let asUser: number | null = null;
  let asUserWhyNot = 'the test does not run as root, so it cannot switch to the image user; ran as the current user';

  /** The HEALTHCHECK's command, with the admin port the test instance got. */
  function healthcheck(): number | null {
    const cmd = one('HEALTHCHECK').exec!;
    const args = cmd.slice(1).map((a) => a.replace(`127.0.0.1:${ADMIN.port}`, `127.0.0.1:${adminPort}`));
    return spawnSync(process.execPath, args, { timeout: 10_000 }).status;
  }

  const qnames = (file: string): string[] =>
    existsSync(file)
      ? readFileSync(file, 'utf8')
          .split('\n')
          .filter((l) => l !== '')
          .map((l) => (JSON.parse(l) as { qname: string }).qname)
      : [];

  async function waitFor(cond: () => boolean, what: string, ms = 5000): Promise<void> {
    const end = Date.now() + ms;
    while (!cond()) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}\n${stderr}`);
      await sleep(20);
    }
  }

  beforeAll(async () => {
    up = await startUpstream(zoneScript({ 'example.org 1': [{ name: 'example.org', type: T.A, address: '192.0.2.10' }] }));
    const base = mkdtempSync(join(tmpdir(), 'c2dns-image-'));
    map = (p) => join(base, p);
    // The image's directories, owned by its user as the Dockerfile makes them.
    for (const v of volumes()) mkdirSync(map(v), { recursive: true });
    const { target } = imageConfig();
    const config = map(target);
    mkdirSync(join(config, '..'), { recursive: true });
    // The shipped configuration with only what cannot be the same outside a container changed:
    // DNS on a free loopback port instead of 53, paths under the temp directory, a local
    // upstream, the admin port free (its address, 0.0.0.0, stays: it is what makes the token needed).
    const doc = YAML.parse(containerConfigText) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
    doc.listen = ['127.0.0.1:0'];
    doc.upstreams = [`127.0.0.1:${up.port}`];
    doc.state.dir = map(doc.state.dir as string);
    doc.log.destination = map(doc.log.destination as string);
    doc.admin.listen = `${ADMIN.host}:0`;
    writeFileSync(config, YAML.stringify(doc));
    logFile = doc.log.destination as string;
    if (process.getuid?.() === 0) {
      // Run as the image's user (root drops every capability when it changes uid): the built
      // package must be readable and the volumes writable by it, as in the image.
      const uid = Number(one('USER').args.split(':')[0]);
      for (const p of [base, ...volumes().map(map)]) chownSync(p, uid, uid);
      chmodSync(built.work, 0o755);
      for (const p of readdirSync(built.work)) chmodSync(join(built.work, p), 0o755);
      // The checkout itself (node_modules, blocklists) may sit in a directory only root can enter.
      const needed = [built.cliJs, join(root, 'node_modules', 'yaml', 'package.json'), join(root, 'blocklists', '3cx.txt')];
      const probe = spawnSync(process.execPath, ['-e', `const fs = require('fs'); for (const f of ${JSON.stringify(needed)}) fs.readFileSync(f)`], { uid, gid: uid });
      if (probe.status === 0) asUser = uid;
      else asUserWhyNot = `uid ${uid} cannot read the checkout (${String(probe.stderr).split('\n')[0] || probe.error?.message}); ran as the current user`;
    }

    const entry = [...one('ENTRYPOINT').exec!, ...one('CMD').exec!];
    const argv = entry.map((a) => (a === 'node' ? process.execPath : a === 'dist/src/cli.js' ? built.cliJs : a === target ? config : a));
    expect(argv.slice(2)).toEqual(['serve', '--config', config]);
    child = spawn(argv[0]!, argv.slice(1), {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, C2DNS_ADMIN_TOKEN: TOKEN },
      ...(asUser !== null ? { uid: asUser, gid: asUser } : {}),
    });
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout!.resume();
    exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
    await waitFor(() => opLines(stderr).some((l) => l.msg === 'c2dns serving'), 'c2dns serving', 15_000);
    const ready = opLines(stderr).find((l) => l.msg === 'c2dns serving')!;
    dnsPort = Number((ready.listen as string[])[0]!.split(':').pop());
    adminPort = Number(new URL(ready.admin as string).port);
    expect(new URL(ready.admin as string).hostname).toBe(ADMIN.host);
  }, 90_000);

  afterAll(async () => {
    if (child !== undefined && child.exitCode === null) child.kill('SIGKILL');
    await up?.close();
  });

  it(`runs as the image's user`, async (ctx) => {
    if (asUser === null) {
      ctx.skip(asUserWhyNot);
      return;
    }
    const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
    expect(/^Uid:\s+(\d+)/m.exec(status)?.[1]).toBe(String(asUser));
    expect(/^CapEff:\s+(\w+)/m.exec(status)?.[1]).toBe('0000000000000000'); // no capability at all
  });

  it('the HEALTHCHECK command succeeds against it', () => {
    expect(healthcheck()).toBe(0);
  });

  it('answers DNS with the bundled C2 list and logs to the log volume', async () => {
    const { packet } = await ask(dnsPort, 'akamaicontainer.com', T.A);
    expect(packet.answers[0]!.address).toBe('0.0.0.0');
    await waitFor(() => qnames(logFile).includes('akamaicontainer.com'), 'the query log line');
  });

  it('serves probes without a token, but /api only with C2DNS_ADMIN_TOKEN', async () => {
    const base = `http://127.0.0.1:${adminPort}`;
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
    expect((await fetch(`${base}/metrics`)).status).toBe(200);
    expect((await fetch(`${base}/api/status`)).status).toBe(401);
    const ok = await fetch(`${base}/api/status`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(ok.status).toBe(200);
    expect(((await ok.json()) as { ready: boolean }).ready).toBe(true);
  });

  it('SIGUSR1 reopens the query log after a rotation (and does not open the Node.js inspector)', async () => {
    await ask(dnsPort, 'before-rotate.example.org', T.A);
    await waitFor(() => qnames(logFile).includes('before-rotate.example.org'), 'the line before rotation');
    renameSync(logFile, `${logFile}.1`);
    child.kill('SIGUSR1');
    await waitFor(() => opLines(stderr).some((l) => l.msg === 'query log reopened' && l.via === 'SIGUSR1'), 'the reopen');
    await ask(dnsPort, 'after-rotate.example.org', T.A);
    await waitFor(() => qnames(logFile).includes('after-rotate.example.org'), 'the line after rotation');
    expect(qnames(logFile)).toEqual(['after-rotate.example.org']);
    expect(qnames(`${logFile}.1`)).toContain('before-rotate.example.org');
    expect(stderr).not.toMatch(/Debugger listening/);
    expect(child.exitCode).toBeNull();
  });

  it('logrotate with the shipped rules rotates the log, and its postrotate signal makes c2dns write a new file', async (ctx) => {
    const logrotate = which('logrotate') ?? (existsSync('/usr/sbin/logrotate') ? '/usr/sbin/logrotate' : null);
    if (logrotate === null) {
      ctx.skip('logrotate is not installed (Debian: logrotate)');
      return;
    }
    // The shipped rules, on the test's log file, with the postrotate command aimed at this process
    // (systemctl kill … is what the shipped one does under systemd).
    const rules = read('deploy/logrotate/c2dns')
      .replace(/^\/\S+(\s*\{)/m, `${logFile}$1`)
      .replace(/systemctl kill [^\n]*/, `kill -USR1 ${child.pid}`);
    const dir = mkdtempSync(join(tmpdir(), 'c2dns-lr-run-'));
    writeFileSync(join(dir, 'c2dns'), rules);
    const reopenedBefore = opLines(stderr).filter((l) => l.msg === 'query log reopened').length;
    await ask(dnsPort, 'rotated-by-logrotate.example.org', T.A);
    await waitFor(() => qnames(logFile).includes('rotated-by-logrotate.example.org'), 'a line to rotate');
    const r = spawnSync(logrotate, ['-f', '-s', join(dir, 'state'), join(dir, 'c2dns')], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    await waitFor(() => opLines(stderr).filter((l) => l.msg === 'query log reopened').length > reopenedBefore, 'the reopen after logrotate');
    await ask(dnsPort, 'after-logrotate.example.org', T.A);
    await waitFor(() => qnames(logFile).includes('after-logrotate.example.org'), 'the line in the new file');
    expect(qnames(logFile)).toEqual(['after-logrotate.example.org']);
    // delaycompress: the first rotation stays plain text.
    const rotated = readdirSync(join(logFile, '..')).filter((f) => f.startsWith('queries.log.'));
    expect(rotated.length).toBeGreaterThan(0);
  });

  it('stops on SIGTERM with exit code 0, after which the HEALTHCHECK fails', async () => {
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(healthcheck()).not.toBe(0);
  });
});

describe('SIGUSR1 with workers', () => {
  it('the primary passes it to every worker, each reopens its query log, none opens the inspector', async () => {
    const up = await startUpstream(zoneScript({}));
    const dir = mkdtempSync(join(built.work, 'workers-'));
    const log = join(dir, 'queries.log');
    writeFileSync(join(dir, 'c2dns.yaml'), YAML.stringify({ workers: 2, admin: { enabled: false }, state: { dir: join(dir, 'state') }, lists: [], log: { destination: log } }));
    const port = 20000 + Math.floor(Math.random() * 20000);
    const child = spawn(process.execPath, [built.cliJs, 'serve', '--config', join(dir, 'c2dns.yaml'), '--listen', `127.0.0.1:${port}`, '--upstream', `127.0.0.1:${up.port}`], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      const until = async (cond: () => boolean, what: string): Promise<void> => {
        const end = Date.now() + 15_000;
        while (!cond()) {
          if (Date.now() > end || child.exitCode !== null) throw new Error(`timed out waiting for ${what}\n${stderr}`);
          await sleep(50);
        }
      };
      await until(() => opLines(stderr).filter((l) => l.msg === 'c2dns serving').length === 2, 'two workers serving');
      const workers = new Set(opLines(stderr).filter((l) => l.msg === 'c2dns serving').map((l) => l.pid));
      renameSync(log, `${log}.1`);
      child.kill('SIGUSR1'); // to the primary only, as `systemctl kill --kill-whom=main` and `docker kill` do
      await until(() => opLines(stderr).filter((l) => l.msg === 'query log reopened').length === 2, 'both workers reopening');
      const reopened = new Set(opLines(stderr).filter((l) => l.msg === 'query log reopened').map((l) => l.pid));
      expect(reopened).toEqual(workers);
      expect(existsSync(log)).toBe(true);
      expect(stderr).not.toMatch(/Debugger listening/);
      expect(child.exitCode).toBeNull();
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      await up.close();
    }
  }, 40_000);
});
