/**
 * The process zoo under --tracking subreaper (test/helpers/zoo-suite.ts), when this host has it.
 */
import { afterEach, describe, it } from 'vitest';
import { ownedTag } from '../helpers/processes.js';
import { backendsAvailable, killAllPidfileSurvivors } from '../helpers/zoo.js';
import { describeZoo } from '../helpers/zoo-suite.js';

const tag = ownedTag();
afterEach(killAllPidfileSurvivors);

if ((await backendsAvailable()).includes('subreaper')) describeZoo('subreaper', tag);
else describe('the zoo under --tracking subreaper', () => it.skip('subreaper is not available on this host (scidex-run --explain-tracking says why)'));
