import { describe, expect, it } from 'vitest';
import type { RegistryImplementation } from '../helpers/registries.js';
import { expectLimitsShape } from './fixtures-shapes.js';
import { describeBadInput } from './registry-bad-input.js';
import { describeConfigurationLines } from './registry-configuration.js';
import { describeAmbiguityContracts } from './registry-contracts.js';
import { describeEventLines } from './registry-events.js';
import { describeLongPoll, describeResourceLimits, describeTimeRules } from './registry-extensions.js';
import { describeRawHttp } from './registry-raw-http.js';
import { describeServiceLines } from './registry-services.js';
import { describeSessions } from './registry-sessions.js';
import { newTenant, useHarness } from './registry-support.js';

/**
 * The Registry behaviour suite: one `it` per line of the spec's section 14
 * checklist (A1, S1-S37, C1-C19, E1-E19; M1-M4 and C2 are transport-level and
 * run in the raw HTTP block when the implementation has a server), then the
 * section 13 contracts and Tether's extensions. Every implementation of
 * `Registry` must pass it unchanged; time moves by the harness's FakeClock.
 *
 * Lines of one original test function share a tenant and run in order (each
 * builds on the state the previous one left); everything else gets its own tenant.
 */
export function describeRegistryConformance(impl: RegistryImplementation): void {
  describe(`Registry conformance: ${impl.name}`, () => {
    const h = useHarness(impl);

    describe('account: test-api-client-account.js', () => {
      it('A1 GET /limits returns an object with resource and rate', async () => {
        const limits = await h().registry.getLimits(newTenant());
        expectLimitsShape(limits);
        expect(limits.resource).toMatchObject({ service: 200, configuration_value: 1000 });
        expect(Object.keys(limits.rate).length).toBeGreaterThan(0);
      });
    });

    describeServiceLines(impl, h);
    describeConfigurationLines(h);
    describeEventLines(h);
    describeSessions(h);
    describeAmbiguityContracts(h);
    describeResourceLimits(impl);
    describeTimeRules(impl, h);
    describeLongPoll(h);
    describeBadInput(h);
    // Only implementations reached over HTTP have wire bytes to check (M1-M4, C2, shapes).
    if (impl.hasRaw) describeRawHttp(h);
  });
}
