import type { EngineConfig } from './types.js';

type DurationOption = 'leaseMs' | 'providerTimeoutMs' | 'streamIdleTimeout' | 'closeTimeout' | 'settleRetryMs' | 'overridesPollMs';

/**
 * A duration option in ms, or its default: a positive finite number.
 *
 * @throws {TypeError} naming the option, the value and what is accepted.
 */
export function durationOption(config: EngineConfig, name: DurationOption, fallback: number): number {
  const value = config[name];
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new TypeError(`tokenlay: ${name} must be a positive number of milliseconds (default ${fallback}); got ${typeof value === 'string' ? JSON.stringify(value) : String(value)}.`);
  }
  return value;
}
