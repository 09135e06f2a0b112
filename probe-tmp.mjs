import { findProvider } from '@pydantic/genai-prices';
for (const id of ['openai','google','x-ai','deepseek','mistral','openrouter']) {
  const p = findProvider({providerId:id});
  for (const e of p.extractors ?? []) console.log(id, e.api_flavor, JSON.stringify(e.root), e.mappings.map(m=>`${JSON.stringify(m.path)}->${m.dest}`).join(' | '));
}
