/**
 * How often the pages read their data, in ms. Shared by the browser scripts (their refresh loops)
 * and the server side (tests wait for a refresh or two), so it imports nothing.
 */

/** The live page's reads of /status. */
export const PAGE_REFRESH_MS = 2000;

/** The run page's reads of /runs/<id>.json while the run is running (an ended run is read once). */
export const RUN_REFRESH_MS = 2000;

/** The fleet view's reads of /fleet.json. */
export const FLEET_REFRESH_MS = 5000;
