// Plain JavaScript: bin/testbed.js checks the CLI bundle with it before anything loads TypeScript.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Where the CLI's bundle lives (functions/bundling.ts builds it). */
export const cliBundleFile = fileURLToPath(
  new URL('../node_modules/.cache/testbed/cli.mjs', import.meta.url),
);

/**
 * The list of files a bundle was built from, beside it. Named anew when the list gained the bundler itself
 * (functions/bundling.ts), so that bundles built before then, another way, count as stale.
 */
export const sourcesFile = (outfile) => `${outfile}.sources.json`;

/** Whether `outfile` is newer than every file listed in `inputsFile` (the inputs it was built from). */
export function isFresh(outfile, inputsFile = sourcesFile(outfile)) {
  if (!existsSync(outfile) || !existsSync(inputsFile)) return false;
  const built = statSync(outfile).mtimeMs;
  try {
    const inputs = JSON.parse(readFileSync(inputsFile, 'utf8'));
    return inputs.every((f) => statSync(f).mtimeMs <= built);
  } catch {
    // An input gone (a file removed or renamed): build again.
    return false;
  }
}
