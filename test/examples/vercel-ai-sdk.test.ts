// examples/vercel-ai-sdk: the AI SDK's OpenAI provider with createTokenlayFetch, generateText and streamText in Express.
import { fetchSdkSuite } from './fetch-sdk.js';

fetchSdkSuite('vercel-ai-sdk');
