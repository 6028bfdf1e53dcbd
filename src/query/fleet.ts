/**
 * The fleet view's data (fleet-body.ts) from PostgreSQL. STUB: the view helper writes it.
 */
import type { DatabaseConfig } from '../config/database.js';
import type { FleetBody } from './fleet-body.js';

/** Every host, the running runs and the kills per host and hour, filtered by analysis id. @throws database errors */
export async function readFleet(database: DatabaseConfig, analysisId: string | null): Promise<FleetBody> {
  void database;
  void analysisId;
  throw new Error('not yet built');
}
