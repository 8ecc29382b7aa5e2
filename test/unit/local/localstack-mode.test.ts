import { describe, expect, it } from 'vitest';
import { localStackOf, resolveStack, stackEnvironment } from '#local/stack.ts';
import { testDir } from '../../support/temp.ts';

describe('testbed up --localstack: where the handler functions are', () => {
  it('is off unless asked for: the handlers run in the runner, against dynalite', () => {
    // Prepare
    const stateDir = testDir('testbed-localstack-');

    // Act
    const s = resolveStack({ stateDir }, {});

    // Assess
    expect(s.localstack).toBeUndefined();
    expect(stackEnvironment(s).DYNAMODB_ENDPOINT).toBe(`http://127.0.0.1:${s.dynamodbPort}`);
    expect(stackEnvironment(s).TESTBED_LOCALSTACK_URL).toBeUndefined();
  });

  it("takes LocalStack's default URL from the bare flag, another from the flag or TESTBED_LOCALSTACK_URL", () => {
    // Prepare
    const stateDir = testDir('testbed-localstack-');

    // Act
    const bare = resolveStack({ stateDir, localstack: true }, {});
    const fromEnv = resolveStack(
      { stateDir },
      { TESTBED_LOCALSTACK_URL: 'http://10.0.0.5:4566', AWS_REGION: 'eu-west-1' },
    );
    const named = resolveStack(
      { stateDir, localstack: 'http://ls:4566' },
      { TESTBED_LOCALSTACK_STACK: 'Mine' },
    );

    // Assess
    expect(bare.localstack).toEqual({
      url: 'http://localhost:4566',
      stackName: 'SwfTestbedLocal',
      region: 'us-east-1',
      dynamodbEndpoint: 'http://localhost:4566',
    });
    expect(fromEnv.localstack).toMatchObject({ url: 'http://10.0.0.5:4566', region: 'eu-west-1' });
    expect(named.localstack).toMatchObject({ url: 'http://ls:4566', stackName: 'Mine' });
    expect(() => resolveStack({ stateDir, localstack: 'localhost:4566' }, {})).toThrow(
      /TESTBED_LOCALSTACK_URL: not an http\(s\) URL: localhost:4566/,
    );
  });

  it("points the runner, CLI and pilots at LocalStack's DynamoDB, and tells the runner where the stack is", () => {
    // Prepare
    const s = resolveStack({ stateDir: testDir('testbed-localstack-'), localstack: true }, {});

    // Act
    const env = stackEnvironment(s);

    // Assess
    expect(env).toMatchObject({
      DYNAMODB_ENDPOINT: 'http://localhost:4566',
      AWS_REGION: 'us-east-1',
      TABLE_PREFIX: 'testbed-',
      TESTBED_LOCALSTACK_STACK: 'SwfTestbedLocal',
    });
    expect(localStackOf(env)).toEqual(s.localstack);
  });
});
