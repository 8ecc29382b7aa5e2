// The broker's credentials in AWS. Loaded by broker-env.ts only there; imported by name, so that a bundle
// keeps this client and command alone, not the whole Secrets Manager client that `import()` of it keeps.
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';

/** The `{"username", "password"}` secret the stack keeps for the broker. */
export async function secretCredentials(secretArn: string): Promise<{ user: string; password: string }> {
  const secret = await new SecretsManagerClient({}).send(new GetSecretValueCommand({ SecretId: secretArn }));
  const parsed = JSON.parse(secret.SecretString ?? '{}') as { username?: string; password?: string };
  if (!parsed.username || !parsed.password)
    throw new Error(`secret ${secretArn}: expected {"username", "password"}`);
  return { user: parsed.username, password: parsed.password };
}
