import { fileURLToPath } from 'node:url';

/** The repository root: bundling entries, the lock file and the pilot image's build context are under it. */
export const repoRoot: string = fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '');
