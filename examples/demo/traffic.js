/**
 * The demo's users at work: each signs in through the app's own `POST /login` and sends the
 * requests of their day, the way a browser or a mobile app would, while a progress bar per user
 * shows how far they got and what the app answered.
 */
import { liveLines, widthOf, wrap } from './terminal.js';

const EMAIL = `Hi team,

I have been using your product for three months now and mostly love it. Two things keep tripping
us up, though. First, exports to CSV drop the time zone, so our finance people in Singapore see
every invoice a day early and have to fix the dates by hand before the monthly close. Second, when
two of us edit the same project at once, the later save silently wins and the other person's
changes are gone; we lost most of an afternoon's work last Tuesday that way. Could you tell me
whether either of these is on your roadmap, and whether there is a workaround we can use until
then? We are about to renew for the whole department (forty seats) and I would like to have an
answer for my manager before the end of the month.

Thanks, and keep up the good work,
Dana`;

const TICKET = `Customer reports that the mobile app logs them out every few minutes since the last update.
They are on Android 14, app version 5.2.1, and have already reinstalled. Draft a short, friendly
reply that asks for the one detail we still need (the time of the last logout) and says what we
are doing about it.`;

/** What each user asks during the demo: the free user more than their plan allows. */
const SCRIPTS = {
  alice: {
    stream: false,
    parallel: 1,
    questions: ['What is a good name for a grey cat?', 'How long should I boil an egg?', 'Translate "good morning" into French.', 'What is 17 times 23?', 'Suggest a title for a blog post about green tea.'],
  },
  bob: {
    stream: false,
    parallel: 1,
    questions: Array.from({ length: 8 }, (_, i) => `Summarise this customer email in two sentences (draft ${i + 1}):\n\n${EMAIL}`),
  },
  carol: {
    // Streamed, and all at once: more than the plan runs at a time, so some wait for a slot.
    stream: true,
    parallel: 6,
    questions: Array.from({ length: 6 }, (_, i) => `Ticket #${4200 + i}. ${TICKET}`),
  },
};

/** @param {string} url @param {string} username @param {string} password */
async function signIn(url, username, password) {
  const res = await fetch(`${url}/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password }) });
  const body = await res.json();
  if (!res.ok) throw new Error(`signing in ${username} failed: ${res.status} ${body.error?.message}`);
  return body.token;
}

/**
 * Sends one request and says what became of it.
 * @returns {Promise<{ outcome: 'answered' | 'streamed' | 'refused', model?: string, warnings: string[], message?: string }>}
 */
async function ask(url, token, question, stream) {
  const res = await fetch(`${url}/chat`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ question, stream }),
  });
  if (res.status === 429) return { outcome: 'refused', warnings: [], message: (await res.json()).error?.message };
  if (!res.ok) {
    const text = await res.text();
    let message = text;
    try {
      message = JSON.parse(text).error?.message ?? text;
    } catch {
      // not JSON: the text is the message
    }
    throw new Error(`the app answered ${res.status} to a chat request: ${message}`);
  }
  if (stream) {
    await res.text();
    return { outcome: 'streamed', warnings: [] };
  }
  const body = await res.json();
  return { outcome: 'answered', model: body.model, warnings: body.warnings };
}

/**
 * Signs every user in, then runs all their scripts at once.
 * @param {string} url the app
 * @param {Record<string, { password: string, plan: string }>} users
 * @param {{ tty: boolean }} options with a TTY: a live progress line per user; without: plain lines
 */
export async function runTraffic(url, users, { tty }) {
  const tokens = {};
  for (const [name, user] of Object.entries(users)) tokens[name] = await signIn(url, name, user.password);
  const signedIn = `Signed in ${Object.entries(users).map(([name, u]) => `${name} (${u.plan})`).join(', ')} through the app's POST /login.`;
  console.log(wrap(signedIn, widthOf(process.stdout), 2).join('\n') + '\n');

  const screen = liveLines(process.stdout);
  const width = Math.max(...Object.keys(users).map((n) => n.length));
  const planWidth = Math.max(...Object.values(users).map((u) => u.plan.length));
  // What the app told a user, under their name: continuation lines line up after it.
  const say = (name, text) => screen.log(`${name.padEnd(width)}  ${text}`, width + 2);

  await Promise.all(
    Object.entries(SCRIPTS).map(async ([name, script]) => {
      const plan = users[name].plan;
      const progress = { done: 0, status: '' };
      const total = script.questions.length;
      if (tty) {
        screen.add(() => {
          const filled = Math.round((progress.done / total) * 20);
          return `${name.padEnd(width)} ${plan.padEnd(planWidth)} [${'#'.repeat(filled)}${'.'.repeat(20 - filled)}] ${progress.done}/${total} requests  ${progress.status}`;
        });
      }
      const seen = { warned: false, model: undefined, refused: false };
      const tally = { answered: 0, refused: 0 };
      const queue = [...script.questions];
      const worker = async () => {
        for (let question = queue.shift(); question !== undefined; question = queue.shift()) {
          const result = await ask(url, tokens[name], question, script.stream);
          tally[result.outcome === 'refused' ? 'refused' : 'answered'] += 1;
          // What the app told the user, the first time it happened: the ledger tells the rest.
          if (result.outcome === 'refused' && !seen.refused) say(name, `refused (429): ${result.message}`);
          else if (result.model && seen.model && result.model !== seen.model) say(name, `now answered by ${result.model}: ${result.warnings.join('; ')}`);
          else if (result.warnings.length > 0 && !seen.warned) say(name, `warned: ${result.warnings.join('; ')}`);
          seen.refused ||= result.outcome === 'refused';
          seen.warned ||= result.warnings.length > 0;
          seen.model = result.model ?? seen.model;
          progress.done += 1;
          progress.status = result.outcome === 'refused' ? 'refused' : (result.model ?? result.outcome);
          screen.update();
        }
      };
      await Promise.all(Array.from({ length: script.parallel }, worker));
      if (!tty) say(name, `done: ${total} requests, ${tally.answered} answered, ${tally.refused} refused`);
    }),
  ).finally(() => screen.stop());
  console.log('');
}
