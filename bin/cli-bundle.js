// Plain JavaScript: bin/testbed.js checks the CLI bundle with it before anything loads TypeScript.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Where the CLI's bundle lives (functions/bundling.ts builds it). */
export const cliBundleFile = fileURLToPath(
  new URL('../node_modules/.cache/testbed/cli.mjs', import.meta.url),
);

/** Whether `outfile` is newer than every file listed in `inputsFile` (the inputs it was built from). */
export function isFresh(outfile, inputsFile = `${outfile}.inputs.json`) {
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
