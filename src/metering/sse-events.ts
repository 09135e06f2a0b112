// The one SSE reader is the protocol's: metering splits events with the same line ends as the client's trailer reader.
export { createEventSplitter, parseEvent, type EventSplitter } from '../protocol/sse.js';
