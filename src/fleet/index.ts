// The fleet's entry point, imported dynamically by src/server/assemble/feeds.ts only when the
// configuration has a `cluster` section: a single instance never loads ioredis.
export { Fleet, type FleetOptions } from './fleet.js';
