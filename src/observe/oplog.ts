// Operational log (startup, list loads, errors) on stderr, so stdout carries only the query log.
import pino from 'pino';

export type OpLogger = pino.Logger;

export function createOpLog(level: string): OpLogger {
  return pino({ level, base: { svc: 'c2dns', pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime }, pino.destination({ dest: 2, sync: true }));
}
