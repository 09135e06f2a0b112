// examples/langchain: ChatOpenAI with createTokenlayFetch in its configuration, invoke and stream in Express.
import { fetchSdkSuite } from './fetch-sdk.js';

fetchSdkSuite('langchain');
