// Every test file starts without the operator's C2DNS_* variables: the configuration reads them
// as overrides (src/config/env.ts), so a shell with, say, C2DNS_ADMIN_TOKEN set would change what
// loadConfig and the servers tests start make of each test's own config. Tests of the overrides
// set the variables they mean to test.
for (const key of Object.keys(process.env)) if (key.startsWith('C2DNS_')) delete process.env[key];
