// Tags every test with the openai major its project runs against, so that CI's summary can count
// passes per Node version and openai major from vitest's JSON report.
import { beforeEach } from 'vitest';

beforeEach(({ task }) => {
  (task.meta as Record<string, unknown>).openai = process.env.EXPECT_OPENAI_MAJOR;
});
