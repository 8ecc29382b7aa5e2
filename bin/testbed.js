#!/usr/bin/env node
// The CLI is TypeScript, run as one esbuild bundle: loading it takes a fraction of loading its modules one
// by one through tsx. tsx builds it when it is missing or older than a source (functions/bundling.ts), and
// runs the sources should it fail to build.
import { pathToFileURL } from 'node:url';
import { cliBundleFile, isFresh } from './cli-bundle.js';

// Node 20 is this machine's; Lambda runs Node 22. The SDK's upgrade notice is noise here.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
let cli = pathToFileURL(cliBundleFile).href;
if (!isFresh(cliBundleFile)) {
  const { register } = await import('tsx/esm/api');
  register();
  try {
    await (await import('../functions/bundling.ts')).cliBundle();
  } catch (error) {
    console.error(`testbed: running from the sources (the CLI bundle was not built: ${error.message})`);
    cli = './cli.ts';
  }
}
try {
  await import(cli);
} catch (error) {
  // A CLI that cannot even load (a broken checkout) still says so in one line, not with a stack trace.
  console.error(`testbed: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
}
