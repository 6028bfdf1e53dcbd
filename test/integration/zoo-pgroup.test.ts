/**
 * The process zoo under --tracking pgroup (test/helpers/zoo-suite.ts), when this host has it.
 */
import { afterEach, describe, it } from 'vitest';
import { ownedTag } from '../helpers/processes.js';
import { backendsAvailable, killAllPidfileSurvivors } from '../helpers/zoo.js';
import { describeZoo } from '../helpers/zoo-suite.js';

const tag = ownedTag();
afterEach(killAllPidfileSurvivors);

if ((await backendsAvailable()).includes('pgroup')) describeZoo('pgroup', tag);
else describe('the zoo under --tracking pgroup', () => it.skip('pgroup is not available on this host (scidex-run --explain-tracking says why)'));
