export { createAlerts, hasAlerts, type AlertOptions, type AlertStats, type Alerts } from './notifier.js';
export { alertBody, alertText, type AlertEvent } from './message.js';
export { postWithRetry, type DeliveryOptions } from './deliver.js';
