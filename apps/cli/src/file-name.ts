// The naming rules live with @haul/http's suggestFileName; this subpath loads no HTTP stack, so an
// ipfs:// get does not pay for undici.
export { safeFileName } from '@haul/http/file-name'
