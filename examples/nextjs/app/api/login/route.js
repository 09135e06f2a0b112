import { NextResponse } from 'next/server';
import { signIn } from '../../../lib/session.js';

/** `{ username, password }` → the session cookie, and `{ token }` for a bearer header. */
export async function POST(request) {
  const { username, password } = await request.json();
  const token = await signIn(username, password);
  if (!token) return NextResponse.json({ error: { message: 'Unknown user or wrong password.' } }, { status: 401 });
  const response = NextResponse.json({ token });
  // Secure (sent over https only) whenever the app is served over https.
  const secure = request.nextUrl.protocol === 'https:';
  response.cookies.set('session', token, { httpOnly: true, sameSite: 'lax', secure, path: '/', maxAge: 7200 });
  return response;
}
