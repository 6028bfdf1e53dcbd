/**
 * How often the live page reads /status, in ms. Shared by the browser script (its refresh loop)
 * and the server side (tests wait for a refresh or two), so it imports nothing.
 */
export const PAGE_REFRESH_MS = 2000;
