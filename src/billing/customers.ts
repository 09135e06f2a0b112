import { readFileSync } from 'node:fs';

/** The fields a customer can come from. */
export const CUSTOMER_FIELDS = ['user', 'org'] as const;
export type CustomerField = (typeof CUSTOMER_FIELDS)[number];

/** How a call's field value becomes a customer in the billing system. */
export interface CustomerMapping {
  field: CustomerField;
  /** The customer for a field value, or undefined when there is none. */
  customerOf(value: string | undefined): string | undefined;
  /** Said when a row has no customer: how to give one. */
  describe: string;
}

/**
 * The mapping a team gives: without a file, the field's value already is the customer id (for
 * Stripe it must look like one, `cus_…`); with a file, a JSON object from field value to customer
 * id (`{ "alice": "cus_NffrFeUfNV2Hib" }`), and values missing from it have no customer.
 * @throws an Error naming the file and what is wrong with it.
 */
export function customerMapping(field: CustomerField, file: string | undefined, pattern?: RegExp, flag = '--customers'): CustomerMapping {
  if (file === undefined) {
    return {
      field,
      customerOf: (value) => (value && (!pattern || pattern.test(value)) ? value : undefined),
      describe: pattern
        ? `the ${field} field is used as the customer id and must look like one (${pattern.source}); give a lookup file with ${flag} FILE otherwise`
        : `the ${field} field is used as the customer id and is empty`,
    };
  }
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`cannot read the customers file "${file}" (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); give ${flag} a JSON file of ${field} → customer id, e.g. {"alice": "cus_NffrFeUfNV2Hib"}.`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new Error(`the customers file "${file}" is not JSON (${(err as Error).message}); it holds one object of ${field} → customer id, e.g. {"alice": "cus_NffrFeUfNV2Hib"}.`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new Error(`the customers file "${file}" must hold one JSON object of ${field} → customer id, e.g. {"alice": "cus_NffrFeUfNV2Hib"}; it holds ${Array.isArray(parsed) ? 'an array' : JSON.stringify(parsed)}.`);
  }
  const map = new Map<string, string>();
  for (const [key, value] of Object.entries(parsed)) {
    if (typeof value !== 'string' || value === '' || (pattern && !pattern.test(value))) {
      throw new Error(`the customers file "${file}" maps ${JSON.stringify(key)} to ${JSON.stringify(value)}, which is not a customer id${pattern ? ` (${pattern.source})` : ''}.`);
    }
    map.set(key, value);
  }
  return { field, customerOf: (value) => (value === undefined ? undefined : map.get(value)), describe: `the ${field} is not in the customers file ${file}` };
}
