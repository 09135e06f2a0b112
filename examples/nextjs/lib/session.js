/**
 * The app's own sign-in: a JWT (signed with SESSION_SECRET, via jose) in an HttpOnly cookie, or
 * the same token as a bearer header for API clients and curl.
 */
import { SignJWT, jwtVerify } from 'jose';

// Demo users; your user store goes here.
const USERS = {
  alice: { password: 'alice-pw', org: 'acme', plan: 'free' },
  bob: { password: 'bob-pw', org: 'globex', plan: 'pro' },
};

let secret;
/** Read on first use, not on import: `next build` imports route modules, without your secrets. */
function sessionSecret() {
  if (!secret && !process.env.SESSION_SECRET) console.warn('SESSION_SECRET is not set: signing sessions with a development secret. Set it (32+ random characters) before you deploy.');
  return (secret ??= new TextEncoder().encode(process.env.SESSION_SECRET ?? 'development-only-secret-of-32-chars!'));
}

/** A signed session token for a demo user, or undefined when the password is wrong. */
export async function signIn(username, password) {
  const user = Object.hasOwn(USERS, username) ? USERS[username] : undefined;
  if (!user || user.password !== password) return undefined;
  return new SignJWT({ org: user.org, plan: user.plan }).setProtectedHeader({ alg: 'HS256' }).setSubject(username).setExpirationTime('2h').sign(sessionSecret());
}

/**
 * The signed-in user of a request as tokenlay's fields, or undefined.
 * @param {import('next/server').NextRequest} request
 */
export async function readSession(request) {
  const token = request.cookies.get('session')?.value ?? request.headers.get('authorization')?.match(/^Bearer (.+)$/)?.[1];
  if (!token) return undefined;
  try {
    const { payload } = await jwtVerify(token, sessionSecret(), { algorithms: ['HS256'] });
    return { user: payload.sub, org: payload.org, plan: payload.plan };
  } catch {
    return undefined; // expired, or not signed by us
  }
}
