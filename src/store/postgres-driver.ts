import { optionalPeer } from '../node-builtins.js';
import type * as Pg from 'pg';

/** pg, loaded on first use so that apps without a Postgres ledger never load it. */
export const loadPg = optionalPeer<typeof Pg>('pg', 'the Postgres ledger', import.meta.url);
