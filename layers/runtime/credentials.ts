import { readFileSync } from 'node:fs';

export interface Credentials {
  readonly user: string;
  readonly password: string;
}

/** Reads `{"user", "password"}`; errors name the file, never its content. */
export function readCredentials(file: string): Credentials {
  const parsed = JSON.parse(readFileSync(file, 'utf8')) as { user?: unknown; password?: unknown };
  if (typeof parsed.user !== 'string' || typeof parsed.password !== 'string') {
    throw new Error(`${file}: expected {"user": string, "password": string}`);
  }
  return { user: parsed.user, password: parsed.password };
}
