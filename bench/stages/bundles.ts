import { type BundleSize, bundleSizes } from '../lib/bundles.ts';
import { atMost, type Figure, figure } from '../lib/figures.ts';
import { say } from '../lib/settings.ts';

export interface BundlesResult {
  /** Every Lambda handler's bundle and the pilot's transformer's. */
  readonly sizes: readonly BundleSize[];
  /** 6c: the largest Lambda handler bundle, KB. */
  readonly largest: Figure;
}

/** Every Lambda handler bundled as CDK does; each is held to Lambda's 1 MB, the transformer is not a Lambda. */
export async function bundlesStage(): Promise<BundlesResult> {
  say('bundling every Lambda handler as CDK does (esbuild, minified)');
  const sizes = await bundleSizes();
  // Each size, in bytes: a change is held to not growing any of them.
  for (const b of sizes) say(`  ${b.name}: ${b.bytes.toLocaleString('en')} bytes`);
  const handlers = sizes.filter((b) => !b.name.startsWith('transformer'));
  const largest = handlers.reduce((a, b) => (b.bytes > a.bytes ? b : a));
  return {
    sizes,
    largest: figure({
      id: '6c',
      figure: `largest Lambda bundle (${largest.name})`,
      unit: 'KB',
      runs: [],
      value: largest.bytes / 1024,
      goal: atMost(1024, 'each'),
    }),
  };
}
