import { describe, expect, it } from 'vitest';
import { localStackPilotEnvironment } from '#local/pilot-launcher.ts';

describe('Function: localStackPilotEnvironment', () => {
  it('points an embedded-stack pilot nowhere new: it reads local files', () => {
    // Prepare
    const env = { STF_STORE: '/state/stf' };

    // Act
    const added = localStackPilotEnvironment(env);

    // Assess
    expect(added).toEqual({});
  });

  it("sends a LocalStack-mode pilot's S3 reads to LocalStack with its test credentials", () => {
    // Prepare
    const env = { TESTBED_LOCALSTACK_URL: 'http://localhost:4566' };

    // Act
    const added = localStackPilotEnvironment(env);

    // Assess
    expect(added).toEqual({
      AWS_ENDPOINT_URL_S3: 'http://localhost:4566',
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
    });
  });

  it.each([
    [{ AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:4569', AWS_ACCESS_KEY_ID: 'k' }],
    [{ AWS_ENDPOINT_URL: 'http://127.0.0.1:4566', AWS_PROFILE: 'localstack' }],
  ])('keeps the endpoint and credentials already set: %j', (given) => {
    // Prepare
    const env = { TESTBED_LOCALSTACK_URL: 'http://localhost:4566', ...given };

    // Act
    const added = localStackPilotEnvironment(env);

    // Assess
    expect(added).toEqual({});
  });
});
