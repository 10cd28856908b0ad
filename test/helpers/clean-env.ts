// Every test file starts without the operator's C2DNS_* variables: the configuration reads them
// as overrides (src/config/env.ts), so a shell with, say, C2DNS_ADMIN_TOKEN set would change what
// loadConfig and the servers tests start make of each test's own config. Tests of the overrides
// set the variables they mean to test. The test suite's own knobs (C2DNS_FUZZ_*: what
// `npm run fuzz -- --count N` passes to test/server/fuzz.test.ts) are no configuration key and stay.
const SUITE_KNOBS = 'C2DNS_FUZZ_';
for (const key of Object.keys(process.env)) if (key.startsWith('C2DNS_') && !key.startsWith(SUITE_KNOBS)) delete process.env[key];
