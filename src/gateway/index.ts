/**
 * The download gateway: HTML download pages, stable download links, an update API and install
 * scripts over any `ContentSource`.
 */

export { type DetectedPlatform, detectFromUserAgent, detectPlatform } from './detect.js';
export {
  GATEWAY_ERROR_CODES,
  GatewayError,
  type GatewayErrorCode,
  type GatewayErrorDetail,
} from './errors.js';
export { createGatewayHandler, type GatewayHandler, type GatewayOptions } from './handler.js';
